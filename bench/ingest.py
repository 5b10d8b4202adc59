"""Ingest benchmark: webhook ack latency of `triage serve`, against a bare FastAPI endpoint.

Run from the repository root, in the project's virtualenv:

    python bench/ingest.py                      # 200 req/s for 10 s, intake only (--no-worker)
    python bench/ingest.py --rate 500 --seconds 30 --with-worker

What one run does:

1. Starts `triage serve --no-worker` (`python -m triage.cli serve`, real uvicorn) on 127.0.0.1
   with a fresh temporary data directory (SQLite store), a signing secret and a small
   triage.yaml, and waits for `/healthz`. `--with-worker` starts it with its in-process worker.
2. Sends signed PagerDuty V3 deliveries (`incident.triggered`, built from the test sample, one
   distinct incident per request: unique event id, incident id and X-Webhook-Id) at a fixed
   rate, open loop: each request goes out at its scheduled time whatever the replies before it
   are doing, and its latency is measured from that scheduled time (so a stalled server is not
   hidden by coordinated omission). The client is a small asyncio HTTP/1.1 keep-alive pool
   (`LoopbackClient`, at most `--connections` in flight), lighter than httpx so that its own
   cost does not dominate the bare baseline. A few sequential warm-up deliveries come first;
   they are not timed but are counted in the accepted / persisted reconciliation.
3. Does the same against a bare FastAPI app (one POST route that reads the body and answers 202)
   under the same uvicorn settings, in its own subprocess.
4. Prints, per target, requests sent, 202s, other statuses, transport errors, achieved rate and
   ack latency p50 / p90 / p99 / max; the triage / bare latency ratios; and, after stopping the
   triage server, how many accepted deliveries are in the store (rows in `alerts`,
   `investigations` and DBOS's `workflow_status`, matched by investigation id). Then the goals:
   p99 <= 50 ms, <= 3x the bare endpoint, 0 lost, each marked met or missed.

The exit code is 0 whatever the figures (this is a benchmark, not a test); 1 if the benchmark
itself broke (a server did not start or died, no request got an answer), 130 on Ctrl-C.
Subprocesses and the temporary directory are removed on every exit path (`--keep` keeps the
directory, with the store and both server logs, for inspection). All traffic stays on 127.0.0.1.
Load generator and servers share this machine's CPUs, so figures include that contention.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from bench.ingest_load import ROUTE, RunResult, deliveries, drive
from bench.loopback_http import HOST
from bench.servers import BenchError, Server, child_env, free_port

GOAL_P99_MS = 50.0
GOAL_RATIO = 3.0
MAX_REQUESTS = 1_000_000
# The sample's PagerDuty service, mapped to a service without connectors.
TRIAGE_YAML = "services:\n  - name: api\n    match:\n      pagerduty_service_ids: [PF9KMXH]\n"


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    rate: float
    seconds: float
    with_worker: bool
    connections: int
    warmup: int
    keep: bool

    @property
    def requests(self) -> int:
        """Timed deliveries per target."""
        return max(1, round(self.rate * self.seconds))


@dataclass(frozen=True)
class StoreCounts:
    """What the triage store holds after the run."""

    alerts: int
    investigations: int
    workflows: int
    persisted: int  # accepted investigations with their alert, row and DBOS workflow all stored


def count_store(db: Path, accepted: set[str]) -> StoreCounts:
    """Row counts, and how many accepted investigations are stored in full."""
    if not db.is_file():
        raise BenchError(f"store {db} does not exist after the run")
    with contextlib.closing(sqlite3.connect(db, timeout=30.0)) as conn:

        def scalar(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        def ids(sql: str) -> set[str]:
            return {str(row[0]) for row in conn.execute(sql)}

        stored = ids("SELECT i.id FROM investigations i JOIN alerts a ON a.id = i.alert_id")
        stored &= ids("SELECT workflow_uuid FROM workflow_status")
        return StoreCounts(
            alerts=scalar("SELECT COUNT(*) FROM alerts"),
            investigations=scalar("SELECT COUNT(*) FROM investigations"),
            workflows=scalar("SELECT COUNT(*) FROM workflow_status"),
            persisted=len(accepted & stored),
        )


def bench_triage(opts: Options, tmp: Path) -> tuple[RunResult, StoreCounts]:
    """Run the load against `triage serve`; count the store once the server has stopped."""
    secret = "bench-" + uuid.uuid4().hex
    workdir = tmp / "triage"
    data_dir = workdir / "data"
    workdir.mkdir()
    config = workdir / "triage.yaml"
    config.write_text(TRIAGE_YAML)
    port = free_port()
    env = child_env({
        "TRIAGE_DATA_DIR": str(data_dir),
        "TRIAGE_CONFIG": str(config),
        "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS": secret,
        "TRIAGE_PUBLIC_URL": f"http://{HOST}:{port}",
    })
    argv = [sys.executable, "-m", "triage.cli", "serve", "--host", HOST, "--port", str(port),
            "--worker" if opts.with_worker else "--no-worker"]
    warmup, timed = deliveries(opts.warmup, secret), deliveries(opts.requests, secret)
    with Server("triage", argv, env, workdir, tmp / "triage.log") as server:
        server.wait_ready(f"http://{HOST}:{port}/healthz", need_200=True)
        result = asyncio.run(drive("triage", port, warmup, timed, opts.rate, opts.connections))
        server.check_alive()
    return result, count_store(data_dir / "triage.sqlite", result.accepted)


def bench_bare(opts: Options, tmp: Path) -> RunResult:
    """Run the same load against the bare endpoint."""
    secret = "bench-" + uuid.uuid4().hex
    workdir = tmp / "bare"
    workdir.mkdir()
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    warmup, timed = deliveries(opts.warmup, secret), deliveries(opts.requests, secret)
    with Server("bare", argv, child_env({}), workdir, tmp / "bare.log") as server:
        server.wait_ready(f"http://{HOST}:{port}/healthz", need_200=False)
        result = asyncio.run(drive("bare", port, warmup, timed, opts.rate, opts.connections))
        server.check_alive()
    return result


def serve_bare(port: int) -> None:
    """The bare endpoint, under the uvicorn settings `triage serve` uses."""
    import uvicorn

    uvicorn.run(bare_app(), host=HOST, port=port, log_level="info")


def bare_app() -> FastAPI:
    """One POST route that reads the body and answers 202, nothing else."""
    app = FastAPI()

    @app.post(ROUTE, status_code=202)
    async def ingest(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    return app


def report(opts: Options, triage: RunResult, bare: RunResult, store: StoreCounts,
           load_before: float) -> str:
    """The printed table, ratios, reconciliation and goals."""
    lines = [
        f"ingest benchmark: {opts.rate:g} req/s for {opts.seconds:g} s = {opts.requests} "
        f"deliveries per target (+{opts.warmup} untimed warm-up), open loop, "
        f"{opts.connections} connections, worker: {'yes' if opts.with_worker else 'no'}, "
        f"CPUs: {os.cpu_count()}, load average before / after: "
        f"{load_before:.2f} / {os.getloadavg()[0]:.2f}",
        "",
        f"{'target':<8}{'sent':>7}{'202':>7}{'non-202':>9}{'errors':>8}{'rate/s':>9}"
        f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lag p50/max':>15}",
    ]
    for r in (triage, bare):
        lines.append(
            f"{r.target:<8}{r.sent:>7}{r.ok:>7}{r.other_status:>9}{r.errors:>8}"
            f"{r.achieved_rate:>9.1f}{r.percentile(0.50):>9.2f}{r.percentile(0.90):>9.2f}"
            f"{r.percentile(0.99):>9.2f}{r.percentile(1.0):>9.2f}{r.lag_ms(0.5):>9.2f}/{r.lag_ms(1.0):.2f}"
        )
    ratio50 = triage.percentile(0.50) / bare.percentile(0.50)
    ratio99 = triage.percentile(0.99) / bare.percentile(0.99)
    accepted = len(triage.accepted)
    lost = accepted - store.persisted
    clean = triage.errors == 0 and triage.other_status == 0
    lines += [
        "(latency runs from each request's scheduled send time; 'lag' is how late the client "
        "issued it, a floor both targets share)",
        "",
        f"triage / bare: p50 {ratio50:.2f}x, p99 {ratio99:.2f}x",
        "",
        f"triage store: accepted {accepted} (incl. warm-up), persisted {store.persisted} "
        f"(rows: alerts {store.alerts}, investigations {store.investigations}, "
        f"workflow_status {store.workflows}), lost {lost}",
        "",
        "goals (latency over requests that got an answer; 'MET' also needs no failed request):",
    ]
    p99 = triage.percentile(0.99)
    goals = [
        (f"p99 <= {GOAL_P99_MS:g} ms", f"triage p99 {p99:.2f} ms", clean and p99 <= GOAL_P99_MS),
        (f"p99 <= {GOAL_RATIO:g}x bare", f"ratio {ratio99:.2f}x", clean and ratio99 <= GOAL_RATIO),
        (f"p50 <= {GOAL_RATIO:g}x bare", f"ratio {ratio50:.2f}x", clean and ratio50 <= GOAL_RATIO),
        ("0 lost", f"lost {lost}", lost == 0),
    ]
    lines += [f"  {goal:<18}{figure:<24}{'MET' if met else 'MISSED'}" for goal, figure, met in goals]
    if not clean:
        kinds = sorted({o.error or str(o.status) for o in triage.outcomes if o.status != 202})
        lines.append(f"  triage failures: {', '.join(kinds)}")
    return "\n".join(lines)


def run(opts: Options) -> int:
    """One benchmark run; the temporary directory goes on every exit path unless `--keep`."""
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    load_before = os.getloadavg()[0]
    try:
        triage, store = bench_triage(opts, tmp)
        bare = bench_bare(opts, tmp)
        if not triage.latencies_ms or not bare.latencies_ms:
            raise BenchError("no request got an HTTP answer from "
                             + ("triage" if not triage.latencies_ms else "bare"))
        if bare.other_status:
            raise BenchError(f"the bare endpoint answered {bare.other_status} requests with a "
                             "status other than 202; the baseline is invalid")
        print(report(opts, triage, bare, store, load_before))
    finally:
        if opts.keep:
            print(f"kept {tmp} (store, triage.log, bare.log)", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def parse_args(argv: list[str] | None) -> tuple[Options, int | None]:
    """Options, and the port when this process is the bare server."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="target requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the timed run")
    parser.add_argument("--with-worker", action="store_true",
                        help="run triage with its in-process worker (default: --no-worker)")
    parser.add_argument("--connections", type=int, default=64, help="client connection limit")
    parser.add_argument("--warmup", type=int, default=20,
                        help="untimed sequential deliveries before the timed run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    opts = Options(rate=ns.rate, seconds=ns.seconds, with_worker=ns.with_worker,
                   connections=ns.connections, warmup=ns.warmup, keep=ns.keep)
    if not (opts.rate > 0 and opts.seconds > 0 and opts.connections > 0 and opts.warmup >= 0):
        parser.error("--rate, --seconds and --connections must be positive, --warmup >= 0")
    if opts.requests + opts.warmup > MAX_REQUESTS:
        parser.error(f"at most {MAX_REQUESTS} requests per target")
    port: int | None = ns.serve_bare
    return opts, port


def main(argv: list[str] | None = None) -> int:
    """Entry point; see the module docstring."""
    opts, bare_port = parse_args(argv)
    if bare_port is not None:
        serve_bare(bare_port)
        return 0
    # SIGTERM unwinds like Ctrl-C, so servers are stopped and the temp dir removed either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return run(opts)
    except KeyboardInterrupt:
        print("interrupted: servers stopped, temporary files removed", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"benchmark broke: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
