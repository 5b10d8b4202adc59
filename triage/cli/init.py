"""`triage init`: write a commented `triage.yaml` for one service, ready for `config check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

SOURCES = ("pagerduty", "alertmanager", "datadog")
LOGS = ("files", "elasticsearch", "datadog", "none")
METRICS = ("files", "prometheus", "datadog", "none")
DATABASES = ("postgres", "none")

# One entry per backend: the connector as triage.yaml names it, with the secret it reads from the
# environment (never written into the file).
CONNECTORS = {
    ("logs", "files"): """\
  logs:                                   # JSON Lines, one event per line
    type: files_logs
    path: logs.jsonl                      # relative to this file
""",
    ("logs", "elasticsearch"): """\
  logs:
    type: elasticsearch
    hosts: ["https://es.internal:9200"]   # no credentials in the URL
    indices: ["logs-*"]                   # allowlist: nothing else is searched
    api_key: {env: ES_API_KEY}            # read from the environment when triage starts a query
""",
    ("logs", "datadog"): """\
  logs:
    type: datadog
    kind: logs
    api_key: {env: DD_API_KEY}
    app_key: {env: DD_APP_KEY}
""",
    ("metrics", "files"): """\
  metrics:                                # CSV: timestamp,metric,value[,label...]
    type: files_metrics
    path: metrics.csv
""",
    ("metrics", "prometheus"): """\
  metrics:
    type: prometheus
    url: http://prometheus.internal:9090  # the HTTP API base
""",
    ("metrics", "datadog"): """\
  metrics:
    type: datadog
    kind: metrics
    api_key: {env: DD_API_KEY}
    app_key: {env: DD_APP_KEY}
""",
    ("database", "postgres"): """\
  database:                               # give triage a read-only role (docs/connectors.md)
    type: postgres
    dsn: postgresql://triage_ro@db.internal:5432/app   # no password here
    password: {env: PG_PASSWORD}
""",
}

MATCH = {
    "pagerduty": """\
    match:
      pagerduty_service_ids: [{service_id}]    # the PagerDuty service's id (its URL ends with it)
""",
    "alertmanager": """\
    match:
      labels: {{service: {name}}}          # every label here must be equal on the alert
""",
    "datadog": """\
    match:
      labels: {{service: {name}}}          # from the monitor's tags (service:{name})
""",
}

SECRETS = {
    "pagerduty": "TRIAGE_PAGERDUTY_WEBHOOK_SECRETS   # the webhook subscription's signing secret",
    "alertmanager": "TRIAGE_ALERTMANAGER_BEARER_TOKEN   # the receiver's bearer token",
    "datadog": "TRIAGE_DATADOG_WEBHOOK_TOKEN       # the webhook's custom header value",
}


def render(service: str, source: str, logs: str, metrics: str, database: str,
           service_id: str = "PXXXXXX") -> str:
    """The text of a commented triage.yaml for one service and the chosen backends."""
    chosen = [(role, kind) for role, kind in (("logs", logs), ("metrics", metrics),
                                              ("database", database)) if kind != "none"]
    connectors = "".join(CONNECTORS[entry] for entry in chosen) or "  {}\n"
    names = ", ".join(role for role, _ in chosen)
    return f"""\
# triage.yaml — written by `triage init`; check it with `triage config check`.
# Alerts arrive from {source}; set the intake credential in the environment, not here:
#   export {SECRETS[source]}
# Reference: docs/configuration.md (every key) and docs/connectors.md (every backend).

services:
  - name: {service}
{MATCH[source].format(name=service, service_id=service_id)}\
    # queried read-only for every alert of this service:
    connectors: [{names}]
    # repository: https://github.com/acme/{service}.git   # lets the sandbox reproduce and bisect

connectors:                               # secrets are {{env: VAR}} or {{file: PATH}} references
{connectors}
brain: rules                              # rules | claude (needs TRIAGE_ANTHROPIC_API_KEY)
sandbox: none                             # none | local (bubblewrap) | modal: where repros run
"""


def _choose(value: str | None, name: str, choices: tuple[str, ...], default: str) -> str:
    """The flag's value; else ask when a person is at the terminal; else the default."""
    if value is None:
        if not sys.stdin.isatty():
            return default
        value = typer.prompt(f"{name} ({' / '.join(choices)})", default=default)
    if value not in choices:
        typer.secho(f"--{name.split()[0]} {value!r}: one of {', '.join(choices)}", fg="red",
                    err=True)
        raise typer.Exit(2)
    return value


def init(
    service: Annotated[str | None, typer.Option(help="the service's name")] = None,
    source: Annotated[str | None, typer.Option(
        help=f"where its alerts come from: {', '.join(SOURCES)}")] = None,
    logs: Annotated[str | None, typer.Option(help=f"logs backend: {', '.join(LOGS)}")] = None,
    metrics: Annotated[str | None, typer.Option(
        help=f"metrics backend: {', '.join(METRICS)}")] = None,
    database: Annotated[str | None, typer.Option(
        help=f"database: {', '.join(DATABASES)}")] = None,
    pagerduty_service_id: Annotated[str, typer.Option(
        help="with --source pagerduty: the service id its incidents carry")] = "PXXXXXX",
    path: Annotated[Path, typer.Option(help="where to write it")] = Path("triage.yaml"),
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a commented triage.yaml for one service (asks at a terminal; flags answer instead)."""
    if path.exists() and not force:
        typer.secho(f"{path} exists; not overwriting it (--force to replace it)", fg="red",
                    err=True)
        raise typer.Exit(1)
    name = service or (typer.prompt("service name", default="checkout") if sys.stdin.isatty()
                       else "checkout")
    text = render(name, _choose(source, "source", SOURCES, "pagerduty"),
                  _choose(logs, "logs backend", LOGS, "files"),
                  _choose(metrics, "metrics backend", METRICS, "files"),
                  _choose(database, "database", DATABASES, "none"), pagerduty_service_id)
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {path}; next: `triage config check`, then `triage serve`")
