"""`triage connectors test` and `triage query`: the on-call engineer's direct line to the same
read-only connectors and guards the brains use."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # the connectors and the config import at run time, inside the commands
    from connectors import Connector
    from triage.config import TriageConfig

connectors_app = typer.Typer(help="Check the configured read-only connectors.", no_args_is_help=True)


def _config() -> TriageConfig:
    from triage.config import ConfigError, Settings, load_config
    from triage.runtime import _config_path

    try:
        return load_config(_config_path(Settings()))
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def _build(config: TriageConfig, name: str) -> Connector:
    from connectors import ConnectorConfigError, build_connector

    if name not in config.connectors:
        known = ", ".join(sorted(config.connectors)) or "none configured"
        typer.secho(f"unknown connector {name!r}; configured: {known}", fg="red", err=True)
        raise typer.Exit(2)
    try:
        return build_connector(name, config.connectors[name], config.base_dir)
    except ConnectorConfigError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc


@connectors_app.command("test")
def check_connectors(
    name: Annotated[str | None, typer.Argument(help="one connector; default: all")] = None,
) -> None:
    """Connect, check read access, and warn loudly if the credentials could write."""
    config = _config()
    names = [name] if name else sorted(config.connectors)
    if not names:
        typer.echo("no connectors configured")
        return
    problems = 0
    for each in names:
        connector = _build(config, each)
        try:
            result = connector.check()
        finally:
            connector.close()
        state = "ok" if result.reachable else "UNREACHABLE"
        typer.secho(f"{each} ({result.kind.value}): {state}",
                    fg="green" if result.reachable else "red")
        for detail in result.details:
            typer.echo(f"    {detail}")
        if result.can_write:
            typer.secho(f"    WARNING: the credentials of {each!r} CAN WRITE. Triage never writes, "
                        "but give it a read-only role (see README).", fg="red", bold=True)
        elif result.can_write is None:
            typer.secho("    could not determine whether these credentials can write", fg="yellow")
        problems += (not result.reachable) + bool(result.can_write)
    if problems:
        raise typer.Exit(1)


def _when(text: str, now: datetime) -> datetime:
    """`15m` / `2h` ago, `now`, or an ISO 8601 time."""
    from connectors.timeparse import parse_timestamp
    from triage.playbook import parse_duration

    if text == "now":
        return now
    try:
        return now - parse_duration(text)
    except ValueError:
        return parse_timestamp(text)


def query(
    name: Annotated[str, typer.Argument(help="connector name from triage.yaml")],
    text: Annotated[str, typer.Argument(metavar="QUERY", help="the query, in the backend's language")],
    since: Annotated[str, typer.Option(help="start: a duration ago (15m, 2h) or ISO time")] = "1h",
    until: Annotated[str, typer.Option(help="end: `now`, a duration ago, or ISO time")] = "now",
    limit: Annotated[int, typer.Option(help="row cap")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole Evidence as JSON")] = False,
) -> None:
    """Run one read-only query through a connector and its guard; refused queries exit 1."""
    from pydantic import ValidationError

    from connectors import EvidenceStatus, QueryRequest
    from triage.models import utcnow

    config = _config()
    now = utcnow()
    try:
        request = QueryRequest(query=text, start=_when(since, now), end=_when(until, now), limit=limit)
    except (ValueError, ValidationError) as exc:
        typer.secho(f"bad time range: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    connector = _build(config, name)
    try:
        evidence = connector.query(request)
    finally:
        connector.close()
    if as_json:
        typer.echo(evidence.model_dump_json(indent=2))
    else:
        typer.echo(f"{evidence.status.value}: {evidence.summary}")
        typer.echo(f"query: {evidence.query}\nrange: {evidence.start.isoformat()} → "
                   f"{evidence.end.isoformat()}  ({evidence.row_count} rows"
                   f"{', truncated' if evidence.truncated else ''}, {evidence.duration_ms:.0f} ms)")
        if evidence.link:
            typer.echo(f"open: {evidence.link}")
        for row in evidence.rows:
            typer.echo(json.dumps(row, default=str))
    if evidence.status == EvidenceStatus.ERROR:
        raise typer.Exit(1)
