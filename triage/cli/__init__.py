"""`triage` — serve webhooks, run workers, investigate one alert, replay scenarios.

Every command module imports only typer at load time and its heavy machinery (DBOS, FastAPI, the
connectors, numpy) inside the command, so `triage --help` and every command start at once.
"""

from __future__ import annotations

import typer

from triage.cli import config, connectors, evaluate, feedback, investigate, playbooks, reports, sandbox

app = typer.Typer(help=__doc__.split("\n", 1)[0], no_args_is_help=True, add_completion=False)
for group in (investigate, evaluate, config, feedback):
    group.register(app)
app.add_typer(config.config_app, name="config")
app.add_typer(connectors.connectors_app, name="connectors")
app.add_typer(playbooks.playbooks_app, name="playbooks")
app.add_typer(sandbox.sandbox_app, name="sandbox")
app.add_typer(reports.reports_app, name="reports")
app.command(name="query")(connectors.query)

__all__ = ["app"]
