"""`triage playbooks validate` and `triage playbooks test`: check playbooks before they page you."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

playbooks_app = typer.Typer(help="Validate and test playbooks.", no_args_is_help=True)


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        elif path.is_file():
            found.append(path)
        else:
            typer.secho(f"{path}: no such file or directory", fg="red", err=True)
            raise typer.Exit(2)
    return found


@playbooks_app.command("validate")
def validate(paths: Annotated[list[Path], typer.Argument(help="playbook files or directories")]) -> None:
    """Check every playbook strictly; errors name the file and the line. Exit 1 on any error."""
    from triage.playbook import PlaybookError, load_playbook

    names: dict[str, Path] = {}
    errors = 0
    for path in _files(paths):
        try:
            playbook = load_playbook(path)
        except PlaybookError as exc:
            errors += 1
            for problem in str(exc).splitlines():
                typer.secho(f"error  {problem}", fg="red")
            continue
        if playbook.name in names:
            errors += 1
            typer.secho(f"error  {path}: name {playbook.name!r} is already used by {names[playbook.name]}",
                        fg="red")
            continue
        names[playbook.name] = path
        typer.echo(f"ok     {path}: {playbook.name} ({len(playbook.queries)} queries, "
                   f"{len(playbook.hypotheses)} hypotheses)")
    if errors:
        raise typer.Exit(1)


@playbooks_app.command("test")
def test_playbooks(
    directory: Annotated[Path, typer.Argument(help="directory of playbooks to test", file_okay=False,
                                              exists=True)],
    scenario: Annotated[Path, typer.Option("--scenario", help="a scenario bundle to replay",
                                           file_okay=False, exists=True)],
) -> None:
    """Replay a scenario with these playbooks: which queries ran, what fired, which hypothesis won."""
    from triage.replay import ReplayError
    from triage.scenarios import ScenarioError, run_scenario

    try:
        loaded, outcome = run_scenario(scenario, playbook_dirs=[directory])
    except (ScenarioError, ReplayError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    report = outcome.report
    typer.echo(f"scenario {loaded.name}: playbook {report.playbook}")
    typer.echo("queries:")
    for step in report.queries:
        rows = f", {step.row_count} rows" if step.row_count is not None else ""
        typer.echo(f"  {step.status:7} {step.name}{rows}: {step.summary[:100]}")
    typer.echo("signals:")
    for signal in report.signals:
        typer.echo(f"  {signal.kind.value:14} {signal.strength:.0%} {signal.title[:100]}")
    typer.echo("hypotheses:")
    for rank, hypothesis in enumerate(report.findings.hypotheses if report.findings else [], 1):
        typer.echo(f"  {rank}. [{hypothesis.category}] {hypothesis.confidence:.0%} "
                   f"{hypothesis.title}")
    findings = report.findings
    winner = findings.hypotheses[0].category if findings and findings.hypotheses else None
    verdict = "abstained" if findings and findings.abstained else f"won: {winner}"
    typer.echo(f"result: {verdict}")
