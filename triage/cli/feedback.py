"""`triage feedback`, `triage bundle export` and `triage stats`: verdicts judged, kept as tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from triage.config import TriageConfig
    from triage.store import Store

bundle_app = typer.Typer(help="Scenario bundles from real investigations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the `triage` app."""
    app.command(name="feedback")(feedback)
    app.command(name="stats")(stats)
    app.add_typer(bundle_app, name="bundle")


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(code)


@contextmanager
def _store() -> Iterator[Store]:
    """The configured store, schema upgraded; a store that cannot be read exits 1."""
    from sqlalchemy.exc import SQLAlchemyError

    from triage.config import Settings
    from triage.store import Store

    store = Store(Settings().resolved_database_url())
    try:
        store.upgrade()
        yield store
    except SQLAlchemyError as exc:
        raise _fail(f"cannot read the store: {str(exc.__cause__ or exc).splitlines()[0]}",
                    1) from exc
    finally:
        store.dispose()


def _config() -> TriageConfig:
    """triage.yaml (TRIAGE_CONFIG, else ./triage.yaml); a broken one exits 2."""
    from triage.config import ConfigError, Settings, load_config
    from triage.runtime import _config_path

    try:
        return load_config(_config_path(Settings()))
    except ConfigError as exc:
        raise _fail(f"configuration error: {exc}", 2) from exc


def feedback(
    investigation_id: Annotated[str, typer.Argument(help="the investigation (inv_...)")],
    right: Annotated[bool, typer.Option("--right", help="the verdict was right")] = False,
    category: Annotated[str | None, typer.Option(
        help="the true cause's category (the verdict was wrong), or `abstain`")] = None,
    culprit: Annotated[str | None, typer.Option(help="the commit that really caused it")] = None,
    note: Annotated[str | None, typer.Option(help="free text")] = None,
    by: Annotated[str | None, typer.Option(help="who says so (default: $USER)")] = None,
) -> None:
    """Say whether an investigation's verdict was right (stored with it, as Slack's buttons do)."""
    import getpass

    from triage.analysis.redaction import redactor_for
    from triage.feedback import Feedback, FeedbackError, record

    if right == (category is not None):
        raise _fail("say either --right or --category CATEGORY (the true cause)", 2)
    given = Feedback(right=right, author=by or getpass.getuser(), category=category,
                     culprit=culprit, note=note)
    redactor = redactor_for(_config())
    with _store() as store:
        try:
            record(store, redactor, investigation_id, given)
        except FeedbackError as exc:
            raise _fail(str(exc), 2) from exc
    typer.echo(f"feedback on {investigation_id}: "
               + ("right" if right else f"wrong; the cause was {category}")
               + (f", culprit {culprit}" if culprit else ""))


@bundle_app.command("export")
def export(
    investigation_id: Annotated[str, typer.Argument(help="the investigation (inv_...)")],
    out: Annotated[Path | None, typer.Option(help="the bundle's directory (default: ./INV)")] = None,
) -> None:
    """Write a scenario bundle from an investigation: its alert, gathered evidence and the
    expectations its feedback sets; `triage eval` then replays it as a regression test."""
    from triage.bundle_export import ExportError, export_bundle

    target = out or Path(investigation_id)
    config = _config()
    with _store() as store:
        try:
            written = export_bundle(store, investigation_id, target, config)
        except ExportError as exc:
            raise _fail(str(exc), 2) from exc
    typer.echo(f"bundle written to {target}: {', '.join(written)}")


def stats(
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Investigations by state, verdicts confirmed right/wrong (per category and brain) and the
    median times to the first note and to the verdict."""
    from triage.stats import compute, format_stats

    with _store() as store, store.read() as conn:
        figures = compute(conn)
    if as_json:
        typer.echo(json.dumps(figures.model_dump(mode="json"), indent=2))
    else:
        typer.echo("\n".join(format_stats(figures)))
