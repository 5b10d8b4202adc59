"""Worker scaling benchmark: N `triage worker` processes on one PostgreSQL-backed queue.

Run from the repository root, in the project's virtualenv:

    python bench/workers.py                       # N = 1, 2, 4; 40 alerts; SQLite baseline too
    python bench/workers.py --workers 1,2,4,8 --alerts 80 --service-concurrency 1

What one run does:

1. Starts a throwaway PostgreSQL server (`tests/postgres.py`) and stages the scenario bundles of
   `tests/scenarios/bundles/` (files connectors: logs, metrics, deploys) into a temporary directory,
   with one triage.yaml that maps all their services.
2. Builds a fixed batch of `--alerts` deliveries, round-robin over the bundles, each with unique ids
   (PagerDuty event / incident / X-Webhook-Id, Alertmanager fingerprint, Datadog event id and alert
   cycle), signed as the vendor would.
3. For each N: a fresh database; `triage serve --no-worker` (the API only) and N `triage worker`
   processes (`TRIAGE_WORKER_ID` bench-worker-1..N), all on that database; once every worker says
   it is running, posts the whole batch to the API (8 at a time) and waits until every
   investigation is completed or failed.
4. Baseline row: `triage serve` with its in-process worker on the default SQLite store (one process
   is all SQLite supports).
5. Prints, per row: investigations completed / failed, the batch's wall time (first alert accepted
   to last investigation finished), throughput, per-investigation latency (accepted -> finished)
   p50 / p95, run time (first stage -> finished) p50, the machine's CPU busy share during the batch,
   how many investigations each worker ran, and throughput relative to N = 1.

All traffic stays on 127.0.0.1; subprocesses, the server and the temporary directory are removed on
every exit path (`--keep` keeps the directory with every process's log). Exit 0 whatever the
figures; 1 if the benchmark itself broke (a process died, a batch did not finish in `--timeout`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from tests.postgres import fresh_database, postgres_server  # noqa: E402
from triage.models import Source  # noqa: E402
from triage.replay import ROUTES, signed_headers  # noqa: E402
from triage.scenarios import find_bundles, load_scenario, stage_bundle  # noqa: E402

BUNDLES = ROOT / "tests" / "scenarios" / "bundles"
SECRET = "bench-workers-secret"  # noqa: S105 (throwaway: signs deliveries to loopback servers)
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
FINAL = ("completed", "failed")


class BenchError(Exception):
    """The benchmark itself broke (a process died, a batch did not finish)."""


@dataclass(frozen=True)
class Delivery:
    """One prepared webhook request."""

    route: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Row:
    """One measured configuration."""

    label: str
    workers: int
    completed: int
    failed: int
    wall_s: float
    latencies_s: list[float]
    run_s: list[float]
    cpu_busy: float
    per_worker: dict[str, int]

    @property
    def throughput(self) -> float:
        """Finished investigations per second over the batch's wall time."""
        return (self.completed + self.failed) / self.wall_s if self.wall_s > 0 else math.nan


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (NaN without values)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def stage_scenarios(workdir: Path) -> tuple[dict[str, Any], list[tuple[Source, bytes, dict[str, str]]]]:
    """Stage every bundle; one triage.yaml for all of them, and each bundle's alert template."""
    config: dict[str, Any] = {"services": [], "connectors": {}}
    templates = []
    for bundle in find_bundles([BUNDLES]):
        scenario = load_scenario(bundle)
        staged = workdir / "bundles" / bundle.name
        stage_bundle(bundle, staged)
        prefix = scenario.name.replace("-", "_")
        renamed = {name: f"{prefix}_{name}" for name in scenario.config.get("connectors", {})}
        for name, entry in scenario.config.get("connectors", {}).items():
            entry = dict(entry)
            if "path" in entry:  # files connectors: paths are bundle-relative
                entry["path"] = str(staged / entry["path"])
            config["connectors"][renamed[name]] = entry
        for service in scenario.config.get("services", []):
            config["services"].append({**service, "connectors": [
                renamed[c] for c in service.get("connectors", [])]})
        templates.append((scenario.source, (bundle / "alert.json").read_bytes(),
                          dict(scenario.headers)))
    return config, templates


def make_batch(templates: list[tuple[Source, bytes, dict[str, str]]], count: int) -> list[Delivery]:
    """`count` deliveries round-robin over the templates, each a distinct alert and delivery."""
    batch = []
    for index in range(count):
        source, raw, headers = templates[index % len(templates)]
        payload = json.loads(raw)
        uid = f"bench{index:04d}"
        extra = dict(headers)
        if source == Source.PAGERDUTY:
            payload["event"]["id"] = f"{payload['event']['id']}-{uid}"
            payload["event"]["data"]["id"] = f"{payload['event']['data']['id']}{uid}"
            extra["x-webhook-id"] = uid
        elif source == Source.ALERTMANAGER:
            for alert in payload["alerts"]:
                alert["fingerprint"] = f"{alert['fingerprint']}-{uid}"
        else:
            payload["id"] = f"{payload['id']}{index:04d}"
            payload["alert_cycle_key"] = f"{payload.get('alert_cycle_key', '')}{uid}"
        body = json.dumps(payload, separators=(",", ":")).encode()
        batch.append(Delivery(ROUTES[source], body, signed_headers(source, body, SECRET, extra)))
    return batch


class Group:
    """The processes of one row; each logs to its own file; all stopped by `stop`."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, args: list[str], env: dict[str, str], cwd: Path) -> None:
        """`python -m triage.cli <args>` with output in `<logs>/<name>.log`."""
        with (self.logs / f"{name}.log").open("wb") as sink:
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "triage.cli", *args], stdout=sink, stderr=subprocess.STDOUT,
                cwd=cwd, env={**os.environ, "PYTHONUNBUFFERED": "1", **env})

    def log(self, name: str) -> str:
        """What a process printed so far."""
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def check(self) -> None:
        """Raise if any process exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")

    def wait(self, what: str, condition: Any, timeout: float, every: float = 0.05) -> None:
        """Poll `condition()` until true, failing if a process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"timed out waiting for {what}")
            time.sleep(every)

    def stop(self) -> None:
        """SIGTERM everything (workers stop DBOS cleanly), then kill stragglers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def post_batch(url: str, batch: list[Delivery]) -> None:
    """Post every delivery, 8 at a time; every one must be accepted."""
    with httpx.Client(base_url=url, timeout=30) as client:
        def post(delivery: Delivery) -> None:
            answer = client.post(delivery.route, content=delivery.body, headers=delivery.headers)
            results = answer.json().get("results", []) if answer.status_code == 202 else []
            if not results or results[0]["status"] != "accepted":
                raise BenchError(f"{delivery.route} answered {answer.status_code}: {answer.text}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, batch))


def measure(label: str, workers: int, batch: list[Delivery], run_dir: Path, config: Path,
            database_url: str | None, options: argparse.Namespace) -> Row:
    """One row: start the API (+ workers), post the batch, wait for it, read the figures."""
    run_dir.mkdir(parents=True)
    env = {"TRIAGE_CONFIG": str(config), "TRIAGE_DATA_DIR": str(run_dir / "data"),
           "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS": SECRET, "TRIAGE_DATADOG_WEBHOOK_TOKEN": SECRET,
           "TRIAGE_ALERTMANAGER_BEARER_TOKEN": SECRET,
           "TRIAGE_SERVICE_CONCURRENCY": str(options.service_concurrency),
           "TRIAGE_WORKER_CONCURRENCY": str(options.worker_concurrency)}
    if database_url:
        env["TRIAGE_DATABASE_URL"] = database_url
    group = Group(run_dir)
    port = _port()
    url = f"http://{HOST}:{port}"
    try:
        serve = ["serve", "--host", HOST, "--port", str(port)]
        group.start("api", serve + (["--no-worker"] if database_url else []), env, run_dir)
        group.wait("the API", lambda: _answers(f"{url}/healthz"), READY_TIMEOUT_S)
        for index in range(1, workers + 1 if database_url else 1):
            name = f"bench-worker-{index}"
            group.start(name, ["worker"], {**env, "TRIAGE_WORKER_ID": name}, run_dir)
        for name in [n for n in group.procs if n != "api"]:
            group.wait(name, lambda n=name: " running" in group.log(n), READY_TIMEOUT_S)
        busy0, total0 = cpu_ticks()
        post_batch(url, batch)
        # Figures come from the store's timestamps, so a slow poll costs no precision, only
        # less CPU taken from the processes being measured.
        group.wait("the batch", lambda: _finished(database_url, run_dir) >= len(batch),
                   options.timeout, every=0.5)
        busy1, total1 = cpu_ticks()
        rows, per_worker = _figures(database_url, run_dir)
    finally:
        group.stop()
    created = [r[2] for r in rows]
    finished = [r[4] for r in rows]
    return Row(label, workers, sum(r[1] == "completed" for r in rows),
               sum(r[1] == "failed" for r in rows),
               (max(finished) - min(created)).total_seconds(),
               [(r[4] - r[2]).total_seconds() for r in rows],
               [(r[4] - r[3]).total_seconds() for r in rows if r[3]],
               (busy1 - busy0) / max(total1 - total0, 1), per_worker)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _query(database_url: str | None, run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the row's store (PostgreSQL, or the SQLite file of the baseline)."""
    if database_url:
        with psycopg.connect(database_url) as conn:
            return list(conn.execute(sql).fetchall())
    lite = sqlite3.connect(run_dir / "data" / "triage.sqlite")
    try:
        return list(lite.execute(sql).fetchall())
    finally:
        lite.close()


def _finished(database_url: str | None, run_dir: Path) -> int:
    states = ", ".join(f"'{s}'" for s in FINAL)
    return int(_query(database_url, run_dir,
                      f"SELECT count(*) FROM investigations WHERE state IN ({states})")[0][0])  # noqa: S608


def _figures(database_url: str | None,
             run_dir: Path) -> tuple[list[tuple[str, str, datetime, datetime | None, datetime]],
                                     dict[str, int]]:
    rows = _query(database_url, run_dir,
                  "SELECT id, state, created_at, started_at, finished_at FROM investigations")
    parsed = [(r[0], r[1], _time(r[2]), _time(r[3]) if r[3] else None, _time(r[4])) for r in rows]
    per_worker = dict(_query(database_url, run_dir,
                             "SELECT worker_id, count(DISTINCT investigation_id) FROM stage_runs "
                             "GROUP BY worker_id ORDER BY worker_id"))
    return parsed, {str(k): int(v) for k, v in per_worker.items()}


def _time(value: Any) -> datetime:
    """A stored timestamp (PostgreSQL: datetime; SQLite: text) as an aware datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def report(rows: list[Row], alerts: int, options: argparse.Namespace) -> None:
    """Print the scaling table."""
    print(f"\n{alerts} alerts over {len(find_bundles([BUNDLES]))} scenario bundles; "
          f"{os.cpu_count()} CPUs; worker concurrency {options.worker_concurrency}, "
          f"service concurrency {options.service_concurrency}\n")
    base = next((r.throughput for r in rows if r.workers == 1 and r.label.startswith("postgres")),
                math.nan)
    print(f"{'store / workers':<20}{'done':>6}{'failed':>7}{'wall s':>8}{'inv/s':>7}{'x N=1':>7}"
          f"{'p50 s':>7}{'p95 s':>7}{'run p50':>8}{'cpu':>6}  per worker")
    for row in rows:
        share = " ".join(f"{v}" for v in row.per_worker.values())
        print(f"{row.label:<20}{row.completed:>6}{row.failed:>7}{row.wall_s:>8.2f}"
              f"{row.throughput:>7.2f}{row.throughput / base:>7.2f}"
              f"{percentile(row.latencies_s, 0.5):>7.2f}{percentile(row.latencies_s, 0.95):>7.2f}"
              f"{percentile(row.run_s, 0.5):>8.2f}{row.cpu_busy:>6.0%}  {share}")
    print("\nlatency: alert accepted -> investigation finished (queue wait included); run: first "
          "stage -> finished;\ncpu: whole machine busy during the batch (workers, API, PostgreSQL, "
          "this script).")


def main(argv: list[str] | None = None) -> int:
    """Parse options, run every row, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts")
    parser.add_argument("--alerts", type=int, default=40, help="investigations per row")
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--service-concurrency", type=int, default=8,
                        help="per service across workers (the product default, 1, caps a batch of "
                             "5 services at 5 concurrent investigations whatever N is)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite baseline")
    parser.add_argument("--timeout", type=float, default=300.0, help="per row, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    options = parser.parse_args(argv)
    counts = [int(n) for n in options.workers.split(",")]
    if options.alerts < 1 or any(n < 1 for n in counts):
        parser.error("--alerts and every --workers count must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="triage-bench-workers-"))
    rows: list[Row] = []
    try:
        config, templates = stage_scenarios(workdir)
        config_path = workdir / "triage.yaml"
        config_path.write_text(yaml.safe_dump(config))
        batch = make_batch(templates, options.alerts)
        with postgres_server() as admin:
            for n in counts:
                print(f"postgres, {n} worker(s) ...", flush=True)
                database = fresh_database(admin, f"bench_workers_{n}")
                rows.append(measure(f"postgres, {n} worker{'s' if n > 1 else ''}", n, batch,
                                    workdir / f"pg-{n}", config_path, database, options))
        if not options.no_sqlite:
            print("sqlite, serve with its in-process worker ...", flush=True)
            rows.append(measure("sqlite, in-process", 1, batch, workdir / "sqlite", config_path,
                                None, options))
        report(rows, options.alerts, options)
        return 0
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if options.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
