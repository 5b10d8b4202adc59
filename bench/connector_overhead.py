"""Connector overhead benchmark: the same queries through a connector and through the raw client
library, in the same run, against the same server. Goal: connector / raw <= 1.2x.

Run from the repository root, in the project's virtualenv:

    python bench/connector_overhead.py                         # every suite
    python bench/connector_overhead.py --only postgres --rounds 300
    python bench/connector_overhead.py --postgres-dsn postgresql://user@host/db   # an existing server

PostgreSQL: without `--postgres-dsn` a throwaway server is started (initdb into a temporary
directory, as `tests/postgres.py` does for the test suite) and a fresh database is seeded with
200 000 log-like rows. Each query runs through `PostgresConnector.query` (guard, pool,
BEGIN READ ONLY + timeouts + cursor + ROLLBACK in one pipelined round trip, row shaping,
Evidence) and through raw psycopg twice: with psycopg's defaults (one autocommit connection,
`execute` + `fetchall`; statements run 5 times get prepared, so the server may switch to a
generic plan) and with preparation off (a fresh plan per run, as the connector's cursor gets).
The ratio is taken against the faster of the two raw runs, so that a planning artefact cannot
flatter the connector. Runs rotate between the three so that all see the same noise; each
figure is the median of `--rounds` runs after a warm-up. The overall ratio is the sum of
connector medians over the sum of best raw medians. All traffic stays on 127.0.0.1 unless a
DSN says otherwise. The exit code is 0 whatever the figures (a benchmark, not a test).

Prometheus: without `--prometheus-url` the real `prometheus` binary is started (as the test
suite does) scraping a prometheus-client exporter with 8 gauge series every 250 ms; after ~8 s
of startup and samples, each query over a fixed 30-second window (two range queries, an instant
query, series, label values) runs through `PrometheusConnector.query` (query syntax, GET,
decode, point rows, summary, link, Evidence) and as the identical GET through a raw
`httpx.Client` with JSON decoding, on one keep-alive connection each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors import QueryRequest, build_connector  # noqa: E402 (after the path tweak)
from connectors.postgres import PostgresConnector, diagnostics  # noqa: E402
from connectors.prometheus.connector import PrometheusConnector  # noqa: E402
from connectors.prometheus.syntax import choose_step  # noqa: E402

GOAL_RATIO = 1.2
ROWS = 200_000
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = (START + timedelta(minutes=60), START + timedelta(minutes=90))


@dataclass(frozen=True)
class Case:
    """One query: how the connector is asked, and the SQL (with params) raw psycopg runs."""

    name: str
    connector_query: str
    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class Result:
    """Medians of one case, in milliseconds: the connector and each raw variant."""

    name: str
    connector_ms: float
    raw_ms: dict[str, float]

    @property
    def best_raw_ms(self) -> float:
        """The faster raw variant."""
        return min(self.raw_ms.values())

    @property
    def ratio(self) -> float:
        """Connector time over the faster raw time."""
        return self.connector_ms / self.best_raw_ms


# --- PostgreSQL --------------------------------------------------------------------------------

SEED = """
CREATE TABLE events (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, service text NOT NULL,
                     level text NOT NULL, latency_ms integer NOT NULL, message text NOT NULL);
INSERT INTO events (ts, service, level, latency_ms, message)
SELECT timestamptz '2024-05-01 12:00:00+00' + g * interval '54 milliseconds',
       (ARRAY['checkout', 'payments', 'search', 'auth'])[1 + g % 4],
       CASE WHEN g % 50 = 0 THEN 'error' WHEN g % 7 = 0 THEN 'warn' ELSE 'info' END,
       (g * 7919) % 900 + 5,
       'request ' || (ARRAY['ok', 'timeout talking to db', 'card declined', 'cache miss',
                            'upstream 503'])[1 + g % 5]
FROM generate_series(1, {rows}) AS g;
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_level_ts ON events (level, ts);
"""


def postgres_cases() -> list[Case]:
    """Typical playbook queries over a 30-minute window, and three diagnostics."""
    window = (WINDOW[0], WINDOW[1])
    sql_cases = [
        ("errors per minute",
         "SELECT date_trunc('minute', ts) AS minute, count(*) AS errors FROM events "
         "WHERE level = 'error' AND ts >= $1 AND ts < $2 GROUP BY 1 ORDER BY 1"),
        ("top error messages",
         "SELECT message, service, count(*) AS n FROM events WHERE level = 'error' "
         "AND ts >= $1 AND ts < $2 GROUP BY 1, 2 ORDER BY n DESC LIMIT 20"),
        ("p99 latency by service",
         "SELECT service, percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) AS p99, "
         "count(*) AS n FROM events WHERE ts >= $1 AND ts < $2 GROUP BY service ORDER BY service"),
        ("latest 100 rows",
         "SELECT * FROM events WHERE ts >= $1 AND ts < $2 ORDER BY ts DESC LIMIT 100"),
    ]
    cases = [Case(name, sql, sql, window) for name, sql in sql_cases]
    for name in ("blocking", "connections", "table_sizes"):
        sql = diagnostics.DIAGNOSTICS[name].sql
        cases.append(Case(f"\\{name}", f"\\{name}", sql, ()))
    return cases


@contextmanager
def postgres_target(dsn: str | None) -> Iterator[str]:
    """A seeded database: on the given server, or on a throwaway one started here."""
    if dsn is not None:
        yield from _seeded(dsn)
        return
    from tests.postgres import postgres_server

    with postgres_server() as admin:
        yield from _seeded(admin)


def _seeded(admin: str) -> Iterator[str]:
    from tests.postgres import fresh_database

    name = f"triage_bench_{uuid.uuid4().hex[:8]}"
    dsn = fresh_database(admin, name)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SEED.format(rows=ROWS))
            # settle the fresh table (hint bits, visibility map) so that both sides read the same
            conn.execute("VACUUM (ANALYZE) events")
            conn.execute("CHECKPOINT")
        yield dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_postgres(dsn: str | None, rounds: int, warmup: int) -> list[Result]:
    """Each PostgreSQL case through the connector and through raw psycopg."""
    results = []
    with postgres_target(dsn) as target:
        connector = build_connector("bench", {"type": "postgres", "dsn": target,
                                              "pool_min_size": 1, "pool_max_size": 1}, ROOT)
        assert isinstance(connector, PostgresConnector)
        prepared = psycopg.connect(target, autocommit=True, cursor_factory=psycopg.RawCursor)
        unprepared = psycopg.connect(target, autocommit=True, cursor_factory=psycopg.RawCursor,
                                     prepare_threshold=None)
        try:
            for case in postgres_cases():
                request = QueryRequest(query=case.connector_query, start=WINDOW[0], end=WINDOW[1])

                def through_connector(request: QueryRequest = request) -> int:
                    evidence = connector.query(request)
                    if evidence.error:
                        raise RuntimeError(f"connector failed: {evidence.error}")
                    return len(evidence.rows)

                def raw(conn: psycopg.Connection[Any], case: Case = case) -> Callable[[], int]:
                    return lambda: len(conn.execute(case.sql, case.params or None).fetchall())

                results.append(_measure(case.name, through_connector,
                                        {"psycopg": raw(prepared), "unprepared": raw(unprepared)},
                                        rounds, warmup,
                                        same_rows=not case.connector_query.startswith("\\")))
        finally:
            prepared.close()
            unprepared.close()
            connector.close()
    return results


# --- Prometheus ---------------------------------------------------------------------------------

PROM_WINDOW = timedelta(seconds=30)


def prometheus_cases(start: datetime, end: datetime, step: float) -> list[tuple[str, str, str,
                                                                                  dict[str, str]]]:
    """(name, connector query, API path, the identical raw request's parameters)."""
    window = {"start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}"}
    evaluation = {"timeout": "27s"}  # the connector asks the server to stop at 90% of 30 s
    rate = "sum by (code) (rate(triage_requests_total[5s]))"
    return [
        ("range: gauge, 8 series", "triage_queue_depth", "/api/v1/query_range",
         {"query": "triage_queue_depth", **window, "step": f"{step:g}", **evaluation}),
        ("range: rate by code", f"range: {rate}", "/api/v1/query_range",
         {"query": rate, **window, "step": f"{step:g}", **evaluation}),
        ("instant: up", "instant: up", "/api/v1/query",
         {"query": "up", "time": window["end"], **evaluation}),
        ("series", "series: triage_queue_depth", "/api/v1/series",
         {"match[]": "triage_queue_depth", **window, "limit": "501"}),
        ("label values", "label_values: shard", "/api/v1/label/shard/values",
         {**window, "limit": "501"}),
    ]


@contextmanager
def prometheus_target(url: str | None) -> Iterator[str]:
    """The given server, or the real `prometheus` binary scraping the test exporter (8 series)."""
    if url is not None:
        yield url.rstrip("/")
        return
    from tests.connectors.prometheus_fixtures import exporter, prometheus_server
    from tests.waiting import wait_for

    with exporter() as exp, prometheus_server(exp.port, auth=False) as server:
        for shard in "cdefgh":
            exp.depth.labels("checkout", shard).set(len(shard) * 3)
        # Prometheus hands static targets to its scraper only after ~5 s
        wait_for(lambda: _prom_count(httpx.get(f"{server}/api/v1/query", params={"query": "up == 1"})
                                     .json()), timeout=30, what="the first scrape")
        time.sleep(3)  # a few seconds of samples
        yield server


def _prom_count(payload: dict[str, Any]) -> int:
    """Samples (or names) in an API answer, counted as the connector counts rows."""
    data = payload["data"]
    if isinstance(data, list):
        return len(data)
    if data["resultType"] == "matrix":
        return sum(len(series["values"]) for series in data["result"])
    return len(data["result"])


def bench_prometheus(url: str | None, rounds: int, warmup: int) -> list[Result]:
    """Each Prometheus case through the connector and through raw httpx (GET + JSON decode)."""
    results = []
    with prometheus_target(url) as target:
        connector = build_connector("bench", {"type": "prometheus", "url": target,
                                              "default_step_seconds": 1}, ROOT)
        assert isinstance(connector, PrometheusConnector)
        raw = httpx.Client(base_url=target, timeout=30, headers={"Accept": "application/json"})
        end = datetime.now(UTC)
        start = end - PROM_WINDOW
        step = choose_step(PROM_WINDOW.total_seconds(), min(connector.settings.max_points, 500), 1.0)
        try:
            for name, query, path, params in prometheus_cases(start, end, step):
                request = QueryRequest(query=query, start=start, end=end)

                def through_connector(request: QueryRequest = request) -> int:
                    evidence = connector.query(request)
                    if evidence.error:
                        raise RuntimeError(f"connector failed: {evidence.error}")
                    return len(evidence.rows)

                def through_raw(path: str = path, params: dict[str, str] = params) -> int:
                    response = raw.get(path, params=params)
                    response.raise_for_status()
                    return _prom_count(response.json())

                results.append(_measure(name, through_connector, {"httpx": through_raw}, rounds,
                                        warmup))
        finally:
            raw.close()
            connector.close()
    return results


def _measure(name: str, connector: Callable[[], int], raw: Mapping[str, Callable[[], int]],
             rounds: int, warmup: int, *, same_rows: bool = True) -> Result:
    """Rotate the callables; medians in ms. All must return the same row count (unless the
    answer depends on who asks, as with the session diagnostics)."""
    calls = {"connector": connector, **raw}
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {label: [] for label in calls}
    labels = list(calls)
    for i in range(rounds):
        for label in labels[i % len(labels):] + labels[: i % len(labels)]:
            started = time.perf_counter()
            calls[label]()
            times[label].append((time.perf_counter() - started) * 1000)
    if same_rows and len({call() for call in calls.values()}) != 1:
        raise RuntimeError(f"{name}: the connector and the raw client returned different row counts")
    medians = {label: statistics.median(values) for label, values in times.items()}
    return Result(name, medians.pop("connector"), medians)


SUITES: dict[str, Callable[[argparse.Namespace], list[Result]]] = {
    "postgres": lambda args: bench_postgres(args.postgres_dsn, args.rounds, args.warmup),
    "prometheus": lambda args: bench_prometheus(args.prometheus_url, args.rounds, args.warmup),
}


def report(suite: str, results: list[Result]) -> None:
    """Print one suite's table and its overall ratio against the goal."""
    variants = list(results[0].raw_ms)
    print(f"\n{suite}: median ms per query (connector vs raw client, same run)")
    print(f"  {'query':<26} {'connector':>10} " + " ".join(f"{v:>10}" for v in variants)
          + f" {'ratio':>7}")
    for result in results:
        print(f"  {result.name:<26} {result.connector_ms:>10.3f} "
              + " ".join(f"{result.raw_ms[v]:>10.3f}" for v in variants)
              + f" {result.ratio:>6.2f}x")
    overall = sum(r.connector_ms for r in results) / sum(r.best_raw_ms for r in results)
    extra = sum(r.connector_ms - r.best_raw_ms for r in results) / len(results)
    verdict = "met" if overall <= GOAL_RATIO else "MISSED"
    print(f"  overall (sum of medians, vs the faster raw): {overall:.2f}x  goal <= {GOAL_RATIO}x: "
          f"{verdict}; mean added time {extra:.3f} ms per query")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suites and print their ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--only", choices=sorted(SUITES), action="append",
                        help="run only this suite (repeatable)")
    parser.add_argument("--rounds", type=int, default=60, help="timed runs per query and side")
    parser.add_argument("--warmup", type=int, default=20, help="untimed runs first")
    parser.add_argument("--postgres-dsn", help="an existing server to seed a database on")
    parser.add_argument("--prometheus-url", help="an existing Prometheus (no auth) to query")
    args = parser.parse_args(argv)
    for suite in args.only or list(SUITES):
        report(suite, SUITES[suite](args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
