"""The fresh corpus: every incident kind once per split, seeded; dev and holdout seeds disjoint from
each other and from the blind corpus's. Rendering and `--all-sources` are the blind corpus's."""

from __future__ import annotations

from pathlib import Path

from tests.scenarios.blind.generate import SOURCES, Kind, write_split
from tests.scenarios.fresh import (
    k_config,
    k_db,
    k_deploy,
    k_deps,
    k_infra,
    k_jobs,
    k_load,
    k_quiet,
    k_resource,
    k_worker,
)

KINDS: dict[str, list[Kind]] = {
    "bad-deploy": [k_deploy.canary_pod, k_deploy.cache_key, k_worker.payout_dlq],
    "config-change": [k_config.flag_percent, k_config.ingress_limit, k_config.rotated_key],
    "resource-exhaustion": [k_resource.gc_heap, k_resource.ephemeral_ports, k_resource.db_slots],
    "db-contention": [k_db.replica_lag, k_db.hot_row, k_jobs.queue_table],
    "dependency-failure": [k_deps.vendor_region, k_deps.retry_storm, k_deps.redis_failover],
    "traffic-surge": [k_load.cron_surge, k_load.cache_stampede, k_load.push_blast],
    "infrastructure": [k_infra.clock_skew, k_infra.iops_throttle, k_infra.conntrack_dns],
    "false-alarm": [k_quiet.flapping, k_quiet.scrape_gap, k_quiet.retired_endpoint],
}
SPLITS = {"dev": (30_001, 2), "holdout": (930_001, 0)}  # first seed, source rotation offset


def seeds(split: str) -> list[tuple[int, str, Kind]]:
    """(seed, source, kind) for every incident of a split."""
    first, offset = SPLITS[split]
    kinds = [kind for group in KINDS.values() for kind in group]
    return [(first + n, SOURCES[(n + offset) % 3], kind) for n, kind in enumerate(kinds)]


def build_split(split: str, out: Path, all_sources: bool = False) -> list[Path]:
    """Every bundle of `split` under `out` (replacing what was there); with `all_sources`, each
    incident once per alert source, in `out/<source>/`."""
    return write_split(seeds(split), out, all_sources)
