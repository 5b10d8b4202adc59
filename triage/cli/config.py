"""`triage config check`: validate settings and triage.yaml, say what is on and what is not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from triage.cli import init

if TYPE_CHECKING:
    from triage.config import Settings, TriageConfig

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this group's top-level commands (`init`) to the `triage` app."""
    app.command(name="init")(init.init)


def secret_problems(config: TriageConfig) -> list[str]:
    """One line per connector secret that cannot be read now, naming connector and source."""
    from connectors import ConnectorConfigError, validate_settings
    from connectors.secrets import unresolved_secrets

    problems: list[str] = []
    for name, entry in config.connectors.items():
        try:
            settings = validate_settings(name, entry, config.base_dir)
        except ConnectorConfigError as exc:  # load_config already refused these; say it again
            problems.append(str(exc))
            continue
        problems += [f"connector {name!r}: {problem}" for problem in unresolved_secrets(settings)]
    return problems


@config_app.command("check")
def config_check() -> None:
    """Validate settings and triage.yaml; print what is enabled and why the rest is not."""
    from triage.agent.claude_settings import brain_status, budget_lines, model_problem
    from triage.cli.reports import check_lines
    from triage.config import ConfigError, Settings, load_config
    from triage.intake import alertmanager
    from triage.runtime import _config_path, load_playbooks

    settings = Settings()
    path = _config_path(settings)
    try:
        config = load_config(path)
        library = load_playbooks(config)
    except ConfigError as exc:
        typer.secho(f"invalid: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    secrets = secret_problems(config)
    lines = [
        f"config file: {path or '(none: empty default; `triage init` writes one)'}",
        f"store: {settings.resolved_database_url().split('@')[-1]}",
        _part("PagerDuty intake", bool(settings.pagerduty_webhook_secrets),
              "set TRIAGE_PAGERDUTY_WEBHOOK_SECRETS"),
        alertmanager.auth_status(settings),
        _part("Datadog intake", bool(settings.datadog_webhook_token),
              "set TRIAGE_DATADOG_WEBHOOK_TOKEN"),
        *check_lines(settings),
        *slack_lines(settings, config),
        brain_status(settings, config.brain),
        *budget_lines(settings, config.brain),
        f"sandbox: {config.sandbox}",
        f"playbooks: {', '.join(sorted(library.playbooks))}",
        *[f"  playbook error: {err}" for err in library.errors],
        "connectors: " + (", ".join(f"{n} ({c['type']})" for n, c in config.connectors.items())
                          or "none"),
        *[f"  secret error: {problem}" for problem in secrets],
        f"services: {len(config.services)}",
        *[f"  {s.name}: connectors {s.connectors or 'none'}"
          + ("" if s.connectors else " (alerts for it will gather no evidence)")
          for s in config.services],
    ]
    typer.echo("\n".join(lines))
    if library.errors or secrets or (config.brain == "claude" and model_problem(settings)):
        raise typer.Exit(1)


def slack_lines(settings: Settings, config: TriageConfig) -> list[str]:
    """Where threads go (or why none are posted) and whether buttons and `/triage` are verified."""
    own = [s.name for s in config.services if s.slack_channel]
    default = config.slack.default_channel
    where = ", ".join(part for part in (
        f"default channel {default}" if default else "",
        f"own channel for {', '.join(own)}" if own else "",
        "the PagerDuty incident's channel first when it links one"
        if config.slack.incident_channels and (default or own) else "") if part)
    silent = [s.name for s in config.services if not s.slack_channel] if not default else []
    if reason := settings.slack_disabled_because():
        threads = f"disabled — {reason}"
    elif not where:
        threads = ("no channel — set slack.default_channel or a service's slack_channel in "
                   "triage.yaml (channel IDs, C0123ABCD)")
    else:
        threads = f"enabled ({where})" + (
            f"; no thread for {', '.join(silent)} (no channel of its own, no default)"
            if silent else "")
    if settings.slack_signing_secret is None:
        buttons = "disabled — set TRIAGE_SLACK_SIGNING_SECRET (/slack/* answers 401)"
    else:
        buttons = "enabled (requests verified with the signing secret)" + (
            "; the Wrong cause… form cannot open without TRIAGE_SLACK_BOT_TOKEN"
            if settings.slack_bot_token is None else "")
    return [f"Slack threads: {threads}", f"Slack buttons and /triage: {buttons}"]


def _part(name: str, enabled: bool, why_not: str) -> str:
    return f"{name}: {'enabled' if enabled else 'disabled — ' + why_not}"
