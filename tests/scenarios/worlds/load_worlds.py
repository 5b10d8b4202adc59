"""Worlds of load and place: a traffic surge, one bad host, and a false alarm."""

from __future__ import annotations

import random

from tests.scenarios.worlds.base import add_noise, metric, minutes
from tests.scenarios.worlds.code_worlds import ERROR_TITLES, LATENCY_TITLES, title
from tests.scenarios.worlds.distractors import distractor_deploy
from tests.scenarios.worlds.model import DeployEvent, RepoNeed, Series, Sporadic, Stream, World

CAMPAIGNS = ["blackfriday", "spring_sale", "newsletter_0412", "tv_spot", "flash_deal"]


def traffic_surge(world: World, rng: random.Random) -> RepoNeed | None:
    """Requests up 3-6x from one client or campaign; latency up; overload-shaped errors."""
    factor, ramp = rng.uniform(3, 6), rng.choice([0.0, 2.0, 6.0, 12.0])
    world.traffic.per_minute = min(world.traffic.per_minute, 25)  # bounded bundle size
    world.traffic.surge_start, world.traffic.surge_factor = world.onset, factor
    world.traffic.surge_ramp = ramp
    who = rng.choice(["campaign", "client", "both"])
    campaign, client = rng.choice(CAMPAIGNS), rng.choice(["partner-bot", "scraper-7", "ios"])
    if who in ("campaign", "both"):
        world.traffic.surge_fields["utm_campaign"] = campaign
    if who in ("client", "both"):
        world.traffic.surge_fields["client"] = client
    if rng.random() < 0.4:
        world.traffic.surge_fields["region"] = rng.choice(["eu-west", "us-east"])
    requests = metric(world, "requests")
    requests.start, requests.peak, requests.ramp = world.onset, requests.base * factor, ramp
    slow = rng.uniform(2, 5)
    latency = metric(world, "latency")
    latency.start, latency.peak, latency.ramp = world.onset, latency.base * slow, ramp
    world.traffic.slow_start, world.traffic.slow_factor = world.onset, slow
    flavours = [("429 Too Many Requests: rate limit exceeded for client {who}", "warn", 429),
                ("request queue full (1024 waiting), rejecting request", "error", 503),
                ("worker pool saturated: 64/64 busy, request queued for {ms}ms", "warn", 503)]
    share = rng.uniform(0.03, 0.15)
    streams = []
    for text, level, status in rng.sample(flavours, rng.randint(1, 2)):
        text = text.replace("{who}", world.traffic.surge_fields.get("client", "web"))
        streams.append(Stream(text, minutes(world.onset, ramp / 2), share, level, ramp,
                              dict(world.traffic.surge_fields), status=status))
    world.streams += streams
    metric(world, "errors").start = world.onset
    metric(world, "errors").peak = metric(world, "errors").base + requests.base * factor * share
    world.alert_title = title(rng, LATENCY_TITLES + ERROR_TITLES, world.service)
    world.description = (f"Traffic x{factor:.1f} from {world.traffic.surge_fields}; latency "
                         f"x{slow:.1f}; overload errors. No code change is to blame.")
    add_noise(world, rng)
    return distractor_deploy(world, rng, streams[0], chance=0.85, low=20, high=60)


def infrastructure(world: World, rng: random.Random) -> RepoNeed | None:
    """One host goes bad: I/O, network or node errors there only; the others are fine."""
    bad = rng.choice(world.hosts)
    kind = rng.choice(["disk", "network", "nfs", "node"])
    texts = {"disk": ["blk_update_request: I/O error, dev nvme1n1, sector {n}",
                      "OSError: [Errno 5] Input/output error: '/data/cache/{n}'"],
             "network": ["dial tcp 10.0.{k}.17:5432: connect: no route to host",
                         "read tcp: i/o timeout talking to 10.0.{k}.21:6379"],
             "nfs": ["nfs: server storage-{k} not responding, still trying",
                     "OSError: [Errno 116] Stale file handle: '/mnt/shared/{n}'"],
             "node": ["kubelet: node {bad} condition Ready=False (NodeNotReady)",
                      "EXT4-fs error (device sdb1): ext4_find_entry:1455: reading directory lblock 0"]}
    share = rng.uniform(0.5, 0.9) / len(world.hosts)  # most of the bad host's traffic fails
    ramp = rng.choice([0.0, 2.0])
    fields = {"host": bad}
    streams = [Stream(text.replace("{bad}", bad), world.onset, share / 2, "error", ramp, fields)
               for text in texts[kind]]
    world.streams += streams
    world.sporadic.append(Sporadic(f"node {bad} status is now: NodeNotReady",
                                   [minutes(world.onset, 0.5)], "warn", fields))
    errors = world.variant["metrics"]["errors"]
    for host in world.hosts:
        base = rng.uniform(0.2, 2)
        peak = base + metric(world, "requests").base * share * len(world.hosts) if host == bad else base
        world.series.append(Series(f"{errors}_by_host", base, peak, world.onset, ramp, 0.3,
                                   labels={"host": host}, integer=True))
    world.series.append(Series(rng.choice(["node_disk_io_time_seconds", "node_load1"]), 0.4,
                               rng.uniform(4, 12), world.onset, ramp, 0.1, labels={"host": bad}))
    metric(world, "errors").start = world.onset
    metric(world, "errors").peak = (metric(world, "errors").base
                                    + metric(world, "requests").base * share)
    world.alert_title = title(rng, [*ERROR_TITLES, f"{world.service} node {bad} unhealthy"],
                              world.service)
    world.description = f"{kind} trouble on {bad} only; the other hosts are fine. No code change."
    add_noise(world, rng)
    return distractor_deploy(world, rng, streams[0], chance=0.7)


def false_alarm(world: World, rng: random.Random) -> RepoNeed | None:
    """Steady telemetry; a flapping synthetic check pages; maybe a harmless deploy."""
    region = rng.choice(["eu-1", "us-2", "ap-3"])
    checks = [minutes(world.start, rng.uniform(5, 95)) for _ in range(rng.randint(2, 5))]
    world.sporadic.append(Sporadic(f"synthetic check GET /healthz failed from probe {region}: "
                                   "timeout after 5s", sorted([*checks, minutes(world.onset, 0)]),
                                   rng.choice(["warn", "error"])))
    if rng.random() < 0.5:
        world.deploys.append(DeployEvent(minutes(world.onset, -rng.uniform(10, 90)),
                                         f"{rng.getrandbits(160):040x}", "tom",
                                         "Copy changes on the landing page", ["README.md"]))
    world.alert_title = rng.choice([f"{world.service} synthetic check failed",
                                    f"Probe failure: {world.service} /healthz",
                                    f"{world.service} availability check flapping"])
    world.description = "A flapping synthetic check; logs and metrics are steady: abstain."
    add_noise(world, rng)
    return None
