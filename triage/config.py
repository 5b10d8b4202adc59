"""Settings: deployment facts and secrets from `TRIAGE_*` environment (or secret files), and the
domain (services, connectors, playbooks, brain, sandbox) from one YAML file, `triage.yaml`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError
from pydantic import field_validator as validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors import ConnectorConfigError, validate_settings
from connectors.validation import describe_errors
from triage.agent.claude_settings import ClaudeSettings
from triage.agent.tools import connector_name_problem
from triage.analysis.redaction import RedactionConfig
from triage.fix.config import PullRequestConfig, RepoTestCommand, ReproSpec
from triage.models import Alert, Source
from triage.notify.settings import NotifySettings
from triage.playbook import QuerySpec
from triage.report.access_settings import AccessSettings


class ConfigError(Exception):
    """The configuration is invalid; the message names the file and the field."""


def _secrets_dir() -> Path | None:
    """Where container secrets are mounted (`/run/secrets`, or `TRIAGE_SECRETS_DIR`), if it exists."""
    # One file per setting, named like its variable (`triage_database_url`); environment
    # variables win. Only an existing directory: pydantic-settings warns on a missing one.
    path = Path(os.environ.get("TRIAGE_SECRETS_DIR", "/run/secrets"))
    return path if path.is_dir() else None


class Settings(BaseSettings, ClaudeSettings, NotifySettings, AccessSettings):
    """Environment settings (`TRIAGE_<FIELD>`); secrets may also come from files in secrets_dir.
    The Claude brain's fields (`TRIAGE_ANTHROPIC_*`, `TRIAGE_BRAIN_*`) come from ClaudeSettings;
    PagerDuty notes' from NotifySettings; report links' and API auth's from AccessSettings."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore",
                                      secrets_dir=_secrets_dir())

    config: Path | None = Field(default=None, description="path to triage.yaml")
    data_dir: Path = Path(".triage")
    database_url: str | None = Field(default=None, description="default: SQLite in data_dir")
    public_url: str = "http://127.0.0.1:8000"
    pagerduty_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    alertmanager_bearer_token: SecretStr | None = None
    alertmanager_basic_auth: SecretStr | None = Field(default=None, description="user:password")
    alertmanager_open: bool = Field(default=False, description="accept Alertmanager webhooks "
                                    "without credentials when neither of the two above is set")
    datadog_webhook_token: SecretStr | None = None
    max_body_bytes: int = 256 * 1024
    worker_id: str = "local"
    worker_concurrency: int = Field(default=4, ge=1)
    service_concurrency: int = Field(default=1, ge=1, description="per service, all workers")
    sandbox_dir: Path | None = Field(default=None, description="mirror + sandbox cache; "
                                     "default: data_dir/sandbox (see triage.fix.backends)")

    @validator("pagerduty_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_database_url(self) -> str:
        """The store's URL: `TRIAGE_DATABASE_URL`, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'triage.sqlite').resolve()}"


class StrictModel(BaseModel):
    """A YAML section: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ServiceMatch(StrictModel):
    """How alerts map to a service; any one rule matching is enough."""

    pagerduty_service_ids: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict, description="all must be equal")


class FollowConfig(StrictModel):
    """How far an investigation follows a failure into the services the alerted one calls."""

    hops: int = Field(default=2, ge=0, le=5, description="0: never leave the alerted service")
    max_services: int = Field(default=3, ge=1, le=10, description="services queried per hop")


# A channel ID, not a name: conversations.history (the exactly-once lookup) accepts IDs only.
SlackChannel = Annotated[str, Field(pattern=r"^[CG][A-Z0-9]{6,}$",
                                    description="Slack channel ID (C0123ABCD), not its name")]


class SlackConfig(StrictModel):
    """Where investigation threads go when a service names no channel of its own."""

    default_channel: SlackChannel | None = None
    incident_channels: bool = Field(default=True, description="post into the PagerDuty incident's "
                                    "own channel when its conference bridge links one")


class ServiceConfig(StrictModel):
    """One service the triage service knows how to investigate."""

    name: str = Field(min_length=1)
    match: ServiceMatch = Field(default_factory=ServiceMatch)
    hosts: list[str] = Field(default_factory=list, description="hostnames (fnmatch patterns) "
                             "this service answers on, as other services' errors name it")
    depends_on: list[str] = Field(default_factory=list, description="configured services it calls")
    follow: FollowConfig | None = Field(default=None, description="else the top-level `follow`")
    repository: str | None = None
    connectors: list[str] = Field(default_factory=list)
    playbook: str | None = Field(default=None, description="force a playbook by name")
    queries: list[QuerySpec] = Field(default_factory=list, description="run besides the playbook's")
    repro: ReproSpec | None = Field(default=None, description="reproduce in a sandbox (triage.fix)")
    test: RepoTestCommand | None = Field(default=None, description="the repository's own tests")
    pull_requests: PullRequestConfig | None = Field(default=None, description="else a local branch")
    slack_channel: SlackChannel | None = Field(default=None, description="else slack.default_channel")

    def matches(self, alert: Alert) -> bool:
        """Whether this alert belongs to this service."""
        labels = alert.labels
        if alert.source == Source.PAGERDUTY and labels.get("pagerduty_service_id") in set(
            self.match.pagerduty_service_ids
        ):
            return True
        if self.match.labels:
            return all(labels.get(key) == value for key, value in self.match.labels.items())
        return labels.get("service") == self.name


class IntakeConfig(StrictModel):
    """What each webhook source accepts."""

    pagerduty_event_types: list[str] = Field(default_factory=lambda: ["incident.triggered"])


class TriageConfig(StrictModel):
    """The contents of triage.yaml."""

    services: list[ServiceConfig] = Field(default_factory=list)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    playbook_dirs: list[Path] = Field(default_factory=list)
    brain: Literal["rules", "claude"] = "rules"
    sandbox: Literal["none", "local", "modal"] = "none"
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    follow: FollowConfig = Field(default_factory=FollowConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in this file are taken from."""
        return self._base_dir

    def service_for(self, alert: Alert) -> ServiceConfig | None:
        """The first configured service this alert belongs to."""
        return next((svc for svc in self.services if svc.matches(alert)), None)

    def service_named(self, name: str | None) -> ServiceConfig | None:
        """The service called `name`, if configured."""
        return next((svc for svc in self.services if svc.name == name), None)

    def slack_channel_for(self, name: str | None) -> str | None:
        """The Slack channel of an investigation of service `name`: its own, else the default."""
        service = self.service_named(name)
        return (service.slack_channel if service and service.slack_channel
                else self.slack.default_channel)

    def follow_for(self, service: ServiceConfig | None) -> FollowConfig:
        """The follow budget of an investigation of `service`: its own, else the top-level one."""
        return service.follow if service and service.follow else self.follow


def parse_config(raw: Any, base_dir: Path, origin: str) -> TriageConfig:
    """Validate a parsed YAML document, including every connector's own settings."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: top level must be a mapping, got {type(raw).__name__}")
    try:
        config = TriageConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_describe(exc)}") from exc
    config._base_dir = base_dir
    config.playbook_dirs = [(base_dir / p).resolve() for p in config.playbook_dirs]
    for name, entry in config.connectors.items():
        problem = connector_name_problem(name)
        if problem:
            raise ConfigError(f"{origin}: connectors: {problem}")
        try:
            validate_settings(name, entry, base_dir)
        except ConnectorConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    names = {svc.name for svc in config.services}
    for service in config.services:
        unknown = [c for c in service.connectors if c not in config.connectors]
        if unknown:
            raise ConfigError(
                f"{origin}: service {service.name!r} uses undefined connectors {unknown}; "
                f"defined: {sorted(config.connectors)}"
            )
        unknown = [d for d in service.depends_on if d not in names or d == service.name]
        if unknown:
            raise ConfigError(
                f"{origin}: service {service.name!r}: depends_on names {unknown}, which are not "
                f"other configured services; configured: {sorted(names)}"
            )
    return config


def load_config(path: Path | None) -> TriageConfig:
    """Load triage.yaml from `path`; no path means the empty default configuration."""
    if path is None:
        return TriageConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_config(raw, path.parent.resolve(), str(path))


def _describe(exc: ValidationError) -> str:
    return describe_errors(exc, TriageConfig)  # a misspelled key says "did you mean"
