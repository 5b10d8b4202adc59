"""`triage eval`: replay scenario bundles, check expectations and score the verdicts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from triage.scenarios import ScenarioResult


def register(app: typer.Typer) -> None:
    """Add this group's commands to the `triage` app."""
    app.command(name="eval")(eval_)


def eval_(
    paths: Annotated[list[Path], typer.Argument(help="bundles, or directories of bundles")],
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="also write results and calibration figures as JSON to FILE (- for stdout "
                       "only)", metavar="FILE")] = None,
) -> None:
    """Replay scenario bundles and check each expectation, then score the verdicts (accuracy,
    confusion matrix, reliability, Brier); exit 1 if any expectation is missed."""
    from triage.calibration import calibrate, format_calibration
    from triage.scenarios import ScenarioError, evaluate, find_bundles

    try:
        bundles = find_bundles(paths)
    except ScenarioError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    results = []
    for bundle in bundles:
        started = time.perf_counter()
        results.append(evaluate(bundle))
        seconds = time.perf_counter() - started
        if json_file != Path("-"):
            _print_result(results[-1], seconds)
    figures = calibrate(results)
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
        passed = sum(r.passed for r in results)
        typer.echo(f"\n{passed} passed, {len(results) - passed} failed "
                   f"({met}/{total} expectations met)\n")
        typer.echo("\n".join(format_calibration(figures)))
    if not results or not all(r.passed for r in results):
        raise typer.Exit(1)


def _print_result(result: ScenarioResult, seconds: float) -> None:
    mark = "PASS" if result.passed else "FAIL"
    verdict = (f" ({result.predicted} {result.confidence:.0%}, truth {result.truth})"
               if result.predicted is not None and result.confidence is not None else "")
    typer.secho(f"{mark}  {result.scenario}{verdict} in {seconds:.1f} s",
                fg="green" if result.passed else "red")
    if result.error:
        typer.echo(f"      error: {result.error}")
    for item in result.checks:
        typer.echo(f"      [{'x' if item.met else ' '}] {item.name}: {item.detail}")
