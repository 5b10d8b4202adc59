"""Ingest benchmark: webhook ack latency of `triage serve`, against a bare FastAPI endpoint.

Run from the repository root, in the project's virtualenv:

    python bench/ingest.py                      # 200 req/s for 10 s, intake only (--no-worker)
    python bench/ingest.py --rate 500 --seconds 30 --with-worker
    python bench/ingest.py --sweep --store both  # raise the rate until p99 passes 50 ms
    python bench/ingest.py --sweep --processes 2  # `triage serve --processes 2`

What one run does:

1. Starts `triage serve --no-worker` (`python -m triage.cli serve`, real uvicorn) on 127.0.0.1
   with a fresh temporary data directory, a signing secret and a small triage.yaml, and waits
   for `/healthz`. `--with-worker` starts it with its in-process worker; `--processes N` with
   N API processes on the one port (the CPU figures then add up every process of the server).
   The store is a SQLite file (`--store sqlite`, the default) or a fresh PostgreSQL server started from this
   machine's binaries with fsync on (`--store postgres`); `--store both` runs each in turn.
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
   p99 <= 50 ms, <= 3x the bare endpoint, 0 lost, each marked met or missed. Investigations are
   created after the 202 by the server's background step: the count waits until none is left
   waiting (`intake_pending` empty) and says how long that took.

`--sweep` keeps both servers up and runs `--sweep-seconds` at each rate of `--rates` in turn,
triage then bare, until triage's p99 passes 50 ms (or a request fails) at the same rate twice
(once can be another process's burst on a shared machine); it prints one line per step, the
server CPU per delivery of both, how many accepted alerts were still waiting for their
investigation when the step ended (the background step yields to the 202s while they come),
and the capacity line: the highest rate whose p99 stayed
within 50 ms.

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
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request, Response

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from bench.ingest_load import ROUTE, RunResult, deliveries, drive
from bench.ingest_store import StoreCounts, cpu_seconds, settle, triage_server, waiting
from bench.loopback_http import HOST
from bench.servers import BenchError, Server, child_env, free_port

GOAL_P99_MS = 50.0
GOAL_RATIO = 3.0
MAX_REQUESTS = 1_000_000
SWEEP_RATES = (200.0, 300.0, 500.0, 700.0, 1000.0, 1200.0, 1500.0, 2000.0, 2500.0, 3000.0)


@dataclass(frozen=True)
class Options:
    """Command-line options."""

    rate: float
    seconds: float
    with_worker: bool
    connections: int
    warmup: int
    keep: bool
    stores: tuple[str, ...] = ("sqlite",)
    sweep: bool = False
    rates: tuple[float, ...] = SWEEP_RATES
    sweep_seconds: float = 5.0
    processes: int = 1

    @property
    def requests(self) -> int:
        """Timed deliveries per target."""
        return max(1, round(self.rate * self.seconds))


def load(opts: Options, target: str, port: int, rate: float, seconds: float,
         secret: str = "bare-endpoint-checks-no-signature") -> RunResult:  # noqa: S107
    """One open-loop run against a server (its warm-up deliveries first)."""
    timed = deliveries(max(1, round(rate * seconds)), secret)
    return asyncio.run(drive(target, port, deliveries(opts.warmup, secret), timed, rate,
                             opts.connections))


@contextlib.contextmanager
def bare_server(tmp: Path) -> Iterator[tuple[Server, int]]:
    """The bare endpoint in its own subprocess; it and its port."""
    workdir = tmp / "bare"
    workdir.mkdir(exist_ok=True)
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)]
    with Server("bare", argv, child_env({}), workdir, tmp / "bare.log") as server:
        server.wait_ready(f"http://{HOST}:{port}/healthz", need_200=False)
        yield server, port
        server.check_alive()


def measured(opts: Options, target: str, server: Server, port: int, rate: float,
             seconds: float, secret: str = "bare-endpoint-checks-no-signature",  # noqa: S107
             ) -> tuple[RunResult, float]:
    """A run and the server's CPU milliseconds per delivery during it (warm-up included)."""
    before = cpu_seconds(server)
    result = load(opts, target, port, rate, seconds, secret)
    used = cpu_seconds(server) - before
    return result, used * 1000 / (len(result.outcomes) + opts.warmup)


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


def report(opts: Options, store_kind: str, triage: RunResult, bare: RunResult,
           store: StoreCounts, load_before: float) -> str:
    """The printed table, ratios, reconciliation and goals."""
    lines = [
        f"ingest benchmark ({store_kind} store): {opts.rate:g} req/s for {opts.seconds:g} s = "
        f"{opts.requests} deliveries per target (+{opts.warmup} untimed warm-up), open loop, "
        f"{opts.connections} connections, worker: {'yes' if opts.with_worker else 'no'}, "
        f"API processes: {opts.processes}, "
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
        reconciliation(accepted, store),
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


def reconciliation(accepted: int, store: StoreCounts) -> str:
    """The accepted-versus-stored line."""
    return (f"triage store: accepted {accepted} (incl. warm-up), persisted {store.persisted} "
            f"(rows: alerts {store.alerts}, investigations {store.investigations}, "
            f"workflow_status {store.workflows}; still waiting {store.waiting}; the background "
            f"step drained {store.drain_s:.1f} s after the load), lost {accepted - store.persisted}")


def check(triage: RunResult, bare: RunResult) -> None:
    """Refuse figures from a run that measured nothing."""
    if not triage.latencies_ms or not bare.latencies_ms:
        raise BenchError("no request got an HTTP answer from "
                         + ("triage" if not triage.latencies_ms else "bare"))
    if bare.other_status:
        raise BenchError(f"the bare endpoint answered {bare.other_status} requests with a "
                         "status other than 202; the baseline is invalid")


def run_once(opts: Options, tmp: Path, store: str, load_before: float) -> str:
    """One rate against one store and the bare endpoint: the report."""
    with triage_server(opts.with_worker, tmp, store, opts.processes) as triage:
        result, triage_cpu = measured(opts, "triage", triage.server, triage.port, opts.rate,
                                      opts.seconds, triage.secret)
        counts = settle(triage, result.accepted)
    with bare_server(tmp) as (server, port):
        bare, bare_cpu = measured(opts, "bare", server, port, opts.rate, opts.seconds)
    check(result, bare)
    return (report(opts, store, result, bare, counts, load_before)
            + f"\nserver CPU per delivery: triage {triage_cpu:.2f} ms (the background step's "
              f"share included as far as it ran), bare {bare_cpu:.2f} ms")


def sweep(opts: Options, tmp: Path, store: str) -> str:
    """Raise the rate step by step until triage's p99 passes the goal; the capacity."""
    lines = [f"sweep ({store} store, {opts.processes} API process"
             f"{'es' if opts.processes > 1 else ''}): {opts.sweep_seconds:g} s per step, open loop, "
             f"{opts.connections} connections, CPUs: {os.cpu_count()}, load average before: "
             f"{os.getloadavg()[0]:.2f}",
             f"{'rate/s':>8}{'achieved':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
             f"{'bare p99':>10}{'p99 ratio':>10}{'failed':>8}{'cpu ms/req':>12}"
             f"{'bare cpu':>10}{'waiting':>9}{'load':>7}"]
    accepted: set[str] = set()
    capacity, beyond = 0.0, ""
    with (triage_server(opts.with_worker, tmp, store, opts.processes) as triage,
          bare_server(tmp) as (bare_proc, bare_port)):
        steps = [(rate, attempt) for rate in opts.rates for attempt in (1, 2)]
        for rate, attempt in steps:
            if attempt == 2 and capacity == rate:
                continue  # passed at the first attempt
            result, cpu = measured(opts, "triage", triage.server, triage.port, rate,
                                   opts.sweep_seconds, triage.secret)
            backlog = waiting(triage.url)  # promoted after the step (while the bare one runs)
            bare, bare_cpu = measured(opts, "bare", bare_proc, bare_port, rate,
                                      opts.sweep_seconds)
            check(result, bare)
            triage.server.check_alive()
            accepted |= result.accepted
            p99, failed = result.percentile(0.99), result.errors + result.other_status
            lines.append(f"{rate:>8g}{result.achieved_rate:>10.1f}{result.percentile(0.5):>9.2f}"
                         f"{p99:>9.2f}{result.percentile(1.0):>9.2f}{bare.percentile(0.99):>10.2f}"
                         f"{p99 / bare.percentile(0.99):>9.2f}x{failed:>8}{cpu:>12.2f}"
                         f"{bare_cpu:>10.2f}{backlog:>9}{os.getloadavg()[0]:>7.2f}")
            if p99 <= GOAL_P99_MS and not failed:
                capacity = rate
            elif attempt == 2:  # missed twice: not a passing stall of a shared machine
                beyond = f"; at {rate:g} req/s p99 was {p99:.1f} ms, {failed} failed (twice)"
                break
        counts = settle(triage, accepted)
    lines += [reconciliation(len(accepted), counts),
              f"capacity ({store}): {capacity:g} req/s with p99 <= {GOAL_P99_MS:g} ms and no "
              f"failed request{beyond or ' (the highest rate swept)'}"]
    return "\n".join(lines)


def run(opts: Options) -> int:
    """The benchmark; the temporary directory goes on every exit path unless `--keep`."""
    tmp = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    try:
        for store in opts.stores:
            load_before = os.getloadavg()[0]
            print(sweep(opts, tmp, store) if opts.sweep else run_once(opts, tmp, store,
                                                                       load_before))
            print(flush=True)
    finally:
        if opts.keep:
            print(f"kept {tmp} (stores, server logs)", file=sys.stderr)
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
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="sqlite",
                        help="the triage store (postgres: a fresh server from this machine)")
    parser.add_argument("--sweep", action="store_true",
                        help="raise the rate until p99 passes 50 ms; print the capacity")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in SWEEP_RATES),
                        help="comma-separated rates the sweep steps through")
    parser.add_argument("--sweep-seconds", type=float, default=5.0, help="duration of a step")
    parser.add_argument("--processes", type=int, default=1,
                        help="triage's API processes (`triage serve --processes`)")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    try:
        rates = tuple(float(r) for r in ns.rates.split(","))
    except ValueError:
        parser.error("--rates takes comma-separated numbers")
    opts = Options(rate=ns.rate, seconds=ns.seconds, with_worker=ns.with_worker,
                   connections=ns.connections, warmup=ns.warmup, keep=ns.keep,
                   stores=("sqlite", "postgres") if ns.store == "both" else (ns.store,),
                   sweep=ns.sweep, rates=rates, sweep_seconds=ns.sweep_seconds,
                   processes=ns.processes)
    if not (opts.rate > 0 and opts.seconds > 0 and opts.connections > 0 and opts.warmup >= 0
            and opts.processes > 0):
        parser.error("--rate, --seconds, --connections and --processes must be positive, "
                     "--warmup >= 0")
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
