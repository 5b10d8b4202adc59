"""`triage reports link ID`: mint a signed link to one investigation's report."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from triage.config import Settings

reports_app = typer.Typer(help="Report links.", no_args_is_help=True)


def _ttl(text: str | None, default: timedelta) -> timedelta:
    """`--ttl` parsed like TRIAGE_REPORT_LINK_TTL (`7d`, `12h`, `3600`, `P7D`)."""
    from pydantic import ValidationError

    from triage.report.access_settings import AccessSettings

    if text is None:
        return default
    try:
        return AccessSettings.model_validate({"report_link_ttl": text}).report_link_ttl
    except ValidationError as exc:
        typer.secho(f"--ttl {text!r}: {exc.errors()[0]['msg']} (e.g. 7d, 12h, 3600)", fg="red",
                    err=True)
        raise typer.Exit(2) from exc


@reports_app.command("link")
def link(
    investigation_id: Annotated[str, typer.Argument(help="the investigation (inv_...)")],
    ttl: Annotated[str | None, typer.Option(help="lifetime (default TRIAGE_REPORT_LINK_TTL)")] = None,
) -> None:
    """Print a link that opens the report (signed when TRIAGE_REPORT_SIGNING_KEYS is set)."""
    from sqlalchemy.exc import SQLAlchemyError

    from triage import repository as repo
    from triage.config import Settings
    from triage.report.links import LinkSigner, ReportLinks
    from triage.store import Store

    settings = Settings()
    lifetime = _ttl(ttl, settings.report_link_ttl)
    store = Store(settings.resolved_database_url())
    try:
        with store.read() as conn:
            found = repo.get_investigation(conn, investigation_id)
    except SQLAlchemyError as exc:
        typer.secho(f"cannot read the store: {str(exc.__cause__ or exc).splitlines()[0]}",
                    fg="red", err=True)
        raise typer.Exit(1) from exc
    finally:
        store.dispose()
    if found is None:
        typer.secho(f"no investigation {investigation_id} in this store", fg="red", err=True)
        raise typer.Exit(1)
    links = ReportLinks(settings.public_url, LinkSigner(settings.report_signing_keys, lifetime))
    if not links.signer.enabled:
        typer.secho("note: TRIAGE_REPORT_SIGNING_KEYS is not set, so links are unsigned and every "
                    "report is open to whoever reaches the server", fg="yellow", err=True)
    typer.echo(links.report(investigation_id))


def check_lines(settings: Settings) -> list[str]:
    """`triage config check` lines for notes, report links, API auth, metrics and probes."""
    days = settings.report_link_ttl.total_seconds() / 86_400
    keys = len(settings.report_signing_keys)
    notes_off = settings.notes_disabled_because()
    api = [what for what, on in (("Bearer TRIAGE_API_TOKEN", settings.api_token is not None),
                                 (f"trusted proxy header {settings.trusted_user_header}",
                                  bool(settings.trusted_user_header))) if on]
    return [
        "PagerDuty notes: " + (f"disabled — {notes_off}" if notes_off else
                               f"enabled (posted as {settings.pagerduty_from} via "
                               f"{settings.pagerduty_base_url})"),
        "report links: " + (f"signed ({keys} key{'s' if keys > 1 else ''}, the first signs; "
                            f"valid {days:g} days)" if keys else
                            "unsigned — embedded/demo mode: every report opens for whoever "
                            "reaches the server; set TRIAGE_REPORT_SIGNING_KEYS"),
        "JSON API auth: " + (" or ".join(api) if api else
                             ("none — the investigations list is closed while links are signed"
                              if keys else "none — open; set TRIAGE_API_TOKEN or "
                                           "TRIAGE_TRUSTED_USER_HEADER")),
        "metrics: /metrics (open: counts only); probes: /healthz (liveness), /readyz (readiness)",
    ]
