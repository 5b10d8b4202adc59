"""`triage eval`: replay scenario bundles, check expectations and score the verdicts."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from triage.scenarios import ScenarioResult


class BackendsOption(StrEnum):
    """Where a replay reads the bundle from."""

    files = "files"
    real = "real"


def register(app: typer.Typer) -> None:
    """Add this group's commands to the `triage` app."""
    app.command(name="eval")(eval_)


def eval_(
    paths: Annotated[list[Path], typer.Argument(help="bundles, or directories of bundles")],
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="also write results and calibration figures as JSON to FILE (- for stdout "
                       "only)", metavar="FILE")] = None,
    backends: Annotated[BackendsOption, typer.Option(
        help="files: the bundle's files through the embedded connectors; real: loaded into local "
             "PostgreSQL, Prometheus, osmem-server (Elasticsearch API) and a loopback GitHub API, "
             "read through the production connectors")] = BackendsOption.files,
) -> None:
    """Replay scenario bundles and check each expectation, then score the verdicts (accuracy,
    confusion matrix, reliability, Brier); exit 1 if any expectation is missed."""
    from triage.backends.servers import Servers
    from triage.calibration import calibrate, format_calibration
    from triage.scenarios import ScenarioError, evaluate, find_bundles

    try:
        bundles = find_bundles(paths)
    except ScenarioError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    results = []
    with contextlib.ExitStack() as stack:
        # one set of servers for the whole run, stopped on every way out (Ctrl-C included)
        servers = stack.enter_context(Servers()) if backends == BackendsOption.real else None
        if servers is not None and threading.current_thread() is threading.main_thread():
            # a SIGTERM unwinds like Ctrl-C, so pg_ctl's daemon and Prometheus are stopped too
            previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
            stack.callback(signal.signal, signal.SIGTERM, previous)
        for bundle in bundles:
            started = time.perf_counter()
            results.append(evaluate(bundle, backends=backends.value, servers=servers))
            seconds = time.perf_counter() - started
            if json_file != Path("-"):
                _print_result(results[-1], seconds)
        if servers is not None and json_file != Path("-") and servers.started():
            typer.echo("\nreal backends: " + "; ".join(servers.started()))
    figures = calibrate([r for r in results if r.skipped is None])
    if json_file is not None:
        document = json.dumps({"results": [r.model_dump() | {"passed": r.passed} for r in results],
                               "calibration": figures.model_dump()}, indent=2)
        if json_file == Path("-"):
            typer.echo(document)
        else:
            json_file.write_text(document + "\n", encoding="utf-8")
    if json_file != Path("-"):
        met = sum(c.met for r in results for c in r.checks)
        total = sum(len(r.checks) for r in results)
        skipped = sum(r.skipped is not None for r in results)
        passed = sum(r.passed for r in results) - skipped
        typer.echo(f"\n{passed} passed, {len(results) - passed - skipped} failed"
                   + (f", {skipped} skipped" if skipped else "")
                   + f" ({met}/{total} expectations met; backends: {backends.value})\n")
        typer.echo("\n".join(format_calibration(figures)))
    if not results or not all(r.passed for r in results) or all(r.skipped for r in results):
        raise typer.Exit(1)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """Leave through the `with` blocks that stop the servers."""
    sys.exit(128 + signum)


def _print_result(result: ScenarioResult, seconds: float) -> None:
    if result.skipped is not None:
        typer.secho(f"SKIP  {result.scenario}: {result.skipped}", fg="yellow")
        return
    mark = "PASS" if result.passed else "FAIL"
    verdict = (f" ({result.predicted} {result.confidence:.0%}, truth {result.truth})"
               if result.predicted is not None and result.confidence is not None else "")
    typer.secho(f"{mark}  {result.scenario}{verdict} in {seconds:.1f} s [{result.backend}]",
                fg="green" if result.passed else "red")
    if result.error:
        typer.echo(f"      error: {result.error}")
    for use in result.connectors:
        timing = (f", {use.total_ms:.0f} ms (max {use.max_ms:.0f})" if use.queries else "")
        failed = f", {use.errors} failed" if use.errors else ""
        typer.echo(f"      {use.name}: {use.backend} — {use.queries} queries{failed}{timing}")
    for item in result.checks:
        typer.echo(f"      [{'x' if item.met else ' '}] {item.name}: {item.detail}")
