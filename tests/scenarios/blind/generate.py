"""The blind corpus: every incident kind once per split, seeded; dev and holdout seeds disjoint."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from tests.scenarios.blind import (
    cat_capacity,
    cat_code,
    cat_config,
    cat_db,
    cat_deps,
    cat_infra,
    cat_limits,
    cat_load,
    cat_quiet,
    cat_vendors,
)
from tests.scenarios.blind.bundle import Incident, write
from tests.scenarios.blind.common import Ctx

Kind = Callable[[Ctx], Incident]

KINDS: dict[str, list[Kind]] = {
    "bad-deploy": [cat_code.pricing_regression, cat_code.n_plus_one, cat_code.crash_loop],
    "config-change": [cat_config.timeout_lowered, cat_config.flag_flip, cat_config.pool_cut],
    "resource-exhaustion": [
        cat_capacity.oom_leak,
        cat_capacity.thread_pool,
        cat_limits.disk_full,
        cat_limits.fd_leak,
    ],
    "db-contention": [cat_db.migration_lock, cat_db.deadlocks, cat_db.idle_in_transaction],
    "dependency-failure": [
        cat_vendors.vendor_429,
        cat_deps.cert_expired,
        cat_vendors.nxdomain,
        cat_deps.grpc_unavailable,
    ],
    "traffic-surge": [cat_load.campaign, cat_load.crawler, cat_load.partner_sync],
    "infrastructure": [cat_infra.noisy_neighbour, cat_infra.node_not_ready, cat_infra.zone_packet_loss],
    "false-alarm": [cat_quiet.night_blip, cat_quiet.probe_flake, cat_quiet.deploy_apdex_flap],
}
SOURCES = ("pagerduty", "alertmanager", "datadog")
SPLITS = {"dev": (1, 0), "holdout": (500_001, 1)}  # first seed, source rotation offset


def seeds(split: str) -> list[tuple[int, str, Kind]]:
    """(seed, source, kind) for every incident of a split."""
    first, offset = SPLITS[split]
    out: list[tuple[int, str, Kind]] = []
    n = 0
    for c, kinds in enumerate(KINDS.values()):
        for k, kind in enumerate(kinds):
            out.append((first + n, SOURCES[(c + k + offset) % 3], kind))
            n += 1
    return out


def alert_time(seed: int) -> datetime:
    """A weekday-ish afternoon or evening in autumn 2026, fixed by the seed."""
    rng = Random(seed * 7919)
    day = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(days=rng.randrange(0, 90))
    return day.replace(hour=rng.randrange(8, 22), minute=rng.randrange(0, 60))


def build(kind: Kind, seed: int, source: str, out: Path) -> Path:
    """Render one incident bundle into `out`."""
    with tempfile.TemporaryDirectory(prefix="blind-repo-") as scratch:
        ctx = Ctx(Random(seed), seed, alert_time(seed), Path(scratch))
        incident = kind(ctx)
        return write(incident, source, Random(seed + 1), out)


def build_split(split: str, out: Path, all_sources: bool = False) -> list[Path]:
    """Every bundle of `split` under `out` (replacing what was there); with `all_sources`, each
    incident three times, once per alert source (in `out/<source>/`), to check that the verdict
    does not depend on who delivered the alert."""
    return write_split(seeds(split), out, all_sources)


def write_split(chosen: list[tuple[int, str, Kind]], out: Path, all_sources: bool) -> list[Path]:
    """Render (seed, source, kind) incidents under `out`, replacing it (see `build_split`)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if not all_sources:
        return [build(kind, seed, source, out) for seed, source, kind in chosen]
    paths = []
    for source in SOURCES:
        (out / source).mkdir()
        paths += [build(kind, seed, source, out / source) for seed, _, kind in chosen]
    return paths
