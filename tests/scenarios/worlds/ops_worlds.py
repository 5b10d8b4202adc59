"""Worlds where nothing we changed is the cause: resources running out, database contention, a
failing dependency."""

from __future__ import annotations

import random

from tests.scenarios.worlds.base import add_noise, metric, minutes
from tests.scenarios.worlds.code_worlds import ERROR_TITLES, LATENCY_TITLES, title
from tests.scenarios.worlds.distractors import distractor_deploy
from tests.scenarios.worlds.model import RepoNeed, Series, Sporadic, Stream, World

GIB = 1024 ** 3
VENDORS = ["cardproc", "shipfast", "taxly", "geocodr", "mailjetty", "fraudscan", "fxrates", "kyc"]


def _errors_up(world: World, share: float, ramp: float = 0.0) -> None:
    errors = metric(world, "errors")
    errors.start, errors.ramp = world.onset, ramp
    errors.peak = errors.base + metric(world, "requests").base * share


def _latency_up(world: World, factor: float, ramp: float = 0.0) -> None:
    latency = metric(world, "latency")
    latency.start, latency.peak, latency.ramp = world.onset, latency.base * factor, ramp
    world.traffic.slow_start, world.traffic.slow_factor = world.onset, factor


def resource_exhaustion(world: World, rng: random.Random) -> RepoNeed | None:
    """A gauge climbs to its limit (pool, memory, disk or file handles), then errors begin."""
    kind = rng.choice(["pool", "memory", "disk", "fds"])
    climb = rng.uniform(15, 50)  # minutes of slow ramp before the gauge hits its limit
    rise = minutes(world.onset, -climb)
    share = rng.uniform(0.08, 0.35)
    if kind == "pool":
        limit = rng.choice([10, 20, 32, 50])
        used, top = rng.choice([("db_pool_in_use", "db_pool_max"),
                                ("hikaricp_connections_active", "hikaricp_connections_max")])
        world.series += [Series(used, limit * 0.25, limit * 1.1, rise, climb, 0.05, integer=True,
                                cap=limit), Series(top, limit, limit, noise=0, integer=True)]
        text = rng.choice(["timed out waiting for connection from pool after 30000ms",
                           f"connection pool exhausted: all {limit} connections in use"])
        stream = Stream(text, world.onset, share, "error")
        _latency_up(world, rng.uniform(3, 8))
    elif kind == "memory":
        limit = rng.choice([1, 2, 4]) * GIB
        world.series += [Series("container_memory_working_set_bytes", limit * 0.45, limit * 1.05,
                                rise, climb, 0.02, cap=limit * 0.99),
                         Series("container_spec_memory_limit_bytes", limit, limit, noise=0),
                         Series("kube_pod_container_status_restarts_total", 2, 9, world.onset,
                                rng.uniform(3, 12), 0, integer=True)]
        stream = Stream("container {svc_} terminated: OOMKilled (exit code 137), restarting",
                        world.onset, share * 0.3, "error")
        world.streams.append(Stream("503 upstream pod not ready (restarting after OOMKilled)",
                                    world.onset, share * 0.7, "error", status=503))
    elif kind == "disk":
        world.series.append(Series(rng.choice(["disk_used_percent", "node_filesystem_used_pct"]),
                                   rng.uniform(60, 75), 104, rise, climb, 0.01, cap=100))
        stream = Stream("OSError: [Errno 28] No space left on device: '/var/lib/{svc_}/spool/{n}'",
                        world.onset, share, "error")
    else:
        limit = rng.choice([1024, 4096, 65536])
        world.series += [Series("process_open_fds", limit * 0.3, limit * 1.1, rise, climb, 0.03,
                                integer=True, cap=limit),
                         Series("process_max_fds", limit, limit, noise=0, integer=True)]
        stream = Stream("OSError: [Errno 24] Too many open files (accept4 on :8080)",
                        world.onset, share, "error")
    stream.template = stream.template.replace("{svc_}", world.service)
    for other in world.streams:
        other.template = other.template.replace("{svc_}", world.service)
    world.streams.insert(0, stream)
    _errors_up(world, share)
    world.alert_title = title(rng, [*ERROR_TITLES, "{svc} pods restarting", "{svc} saturation"],
                              world.service)
    world.description = (f"{kind}: a gauge climbs for {climb:.0f} minutes to its limit; then "
                         f"{stream.template!r} on {share:.0%} of requests. No code change.")
    add_noise(world, rng)
    return distractor_deploy(world, rng, stream, low=5, high=60)


def db_contention(world: World, rng: random.Random) -> RepoNeed | None:
    """A batch job or migration holds locks: lock timeouts and deadlocks, latency up."""
    job = rng.choice(["batch job nightly-reconcile", "migration 0042_backfill_order_totals",
                      "batch job export-ledger", "cron job purge-expired-carts"])
    table = rng.choice(["orders", "carts", "ledger_entries", "invoices"])
    postgres = rng.random() < 0.6
    texts = ([f"psycopg.errors.LockNotAvailable: canceling statement due to lock timeout "
              f"(UPDATE {table} SET status = $1 WHERE id = $2)",
              "psycopg.errors.DeadlockDetected: deadlock detected"] if postgres else
             ["(1205, 'Lock wait timeout exceeded; try restarting transaction')",
              "(1213, 'Deadlock found when trying to get lock; try restarting transaction')"])
    share = rng.uniform(0.08, 0.3)
    ramp = rng.choice([0.0, 4.0, 10.0])
    stream = Stream(texts[0], world.onset, share, "error", ramp)
    world.streams += [stream, Stream(texts[1], world.onset, share * 0.15, "error", ramp)]
    started = minutes(world.onset, -rng.uniform(1, 6))
    world.sporadic += [
        Sporadic(f"{job} started: locking {table} for update ({rng.randint(2, 40) * 10000} rows)",
                 [started], rng.choice(["info", "warn"])),
        Sporadic(f"{job} still running after {{s}} minutes, holding row locks on {table}",
                 [minutes(world.onset, m) for m in range(2, 40, 6) if minutes(world.onset, m)
                  < world.alert_at], "warn")]
    world.series.append(Series(rng.choice(["db_lock_wait_seconds", "pg_locks_waiting",
                                           "mysql_innodb_row_lock_current_waits"]),
                               rng.uniform(0.01, 0.5), rng.uniform(5, 40), world.onset, ramp, 0.1))
    _latency_up(world, rng.uniform(3, 10), ramp)
    _errors_up(world, share, ramp)
    world.alert_title = title(rng, LATENCY_TITLES + ERROR_TITLES + ["{svc} database lock waits"],
                              world.service)
    world.description = f"{job} holds row locks on {table}: lock timeouts and deadlocks."
    add_noise(world, rng)
    return distractor_deploy(world, rng, stream, chance=0.6)


def dependency_failure(world: World, rng: random.Random) -> RepoNeed | None:
    """An external API degrades: 503s, time-outs or resets naming its host; retries."""
    vendor = rng.choice(VENDORS)
    host = f"api.{vendor}.example"
    url = f"https://{host}/v{rng.randint(1, 3)}/{rng.choice(['charges', 'rates', 'lookup', 'verify'])}"
    flavours = [f"upstream POST {url} returned 503 Service Unavailable",
                f"request to {url} timed out after {{s}}s",
                f"POST {url} failed: connection reset by peer ({host}:443)",
                f"{vendor} client: HTTP 502 Bad Gateway from {host}"]
    picked = rng.sample(flavours, rng.randint(1, 2))
    share = rng.uniform(0.2, 0.55)
    ramp = rng.choice([0.0, 3.0, 8.0])
    streams = [Stream(text, world.onset, share / len(picked), "error", ramp, status=502)
               for text in picked]
    streams.append(Stream(f"retrying POST {url} (attempt {{k}}/3)", world.onset, share * 0.4,
                          rng.choice(["warn", "warning"]), ramp))
    world.streams += streams
    world.series.append(Series(rng.choice(["upstream_latency_p99_ms",
                                           "http_client_request_duration_p99_ms"]),
                               rng.uniform(80, 400), rng.uniform(4000, 12000), world.onset, ramp,
                               0.08, labels={"peer": host}))
    _errors_up(world, share, ramp)
    _latency_up(world, rng.uniform(1.5, 4), ramp)
    world.alert_title = title(rng, ERROR_TITLES + LATENCY_TITLES, world.service)
    world.description = f"{host} degrades ({'; '.join(picked)}); nothing changed on our side."
    add_noise(world, rng)
    return distractor_deploy(world, rng, streams[0])
