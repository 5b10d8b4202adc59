"""The process-wide runtime: settings, configuration, store and playbooks, and DBOS settings.

DBOS steps run in worker threads with only an investigation id; they find everything else here.
The runtime knows nothing of the workflow that uses it: `triage.worker` launches the two together.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbos import DBOS, DBOSClient, DBOSConfig

from connectors import Connector
from connectors.unavailable import build_or_stand_in
from triage.agent.base import Brain
from triage.agent.rules import RulesBrain
from triage.analysis.redaction import Redactor, model_redactor_for, redactor_for
from triage.config import ConfigError, ServiceConfig, Settings, TriageConfig, load_config
from triage.observability import Metrics
from triage.playbook import PlaybookLibrary
from triage.store import Store

if TYPE_CHECKING:
    from triage.intake.pipeline import IntakePipeline

QUEUE_NAME = "investigations"
log = logging.getLogger(__name__)


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time. DBOS's default handler binds the stderr of
    its first use, which breaks once that stream is swapped and closed (CLI runners, tests)."""

    @property
    def stream(self) -> Any:
        """The current standard error."""
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _own_dbos_logging() -> None:
    # DBOS only installs its console handler when the `dbos` logger has none: give it ours.
    dbos_logger = logging.getLogger("dbos")
    if not any(isinstance(h, _CurrentStderrHandler) for h in dbos_logger.handlers):
        handler = _CurrentStderrHandler()
        handler.name = "__dbos_console_log_handler__"
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s dbos: %(message)s"))
        dbos_logger.handlers = [handler]
        dbos_logger.propagate = False


@dataclass
class Runtime:
    """Everything a process needs to accept alerts and run investigations."""

    settings: Settings
    config: TriageConfig
    store: Store
    playbooks: PlaybookLibrary
    _client: DBOSClient | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, config: TriageConfig | None = None) -> Runtime:
        """Load configuration, open the store and bring its schema up to date."""
        config = config if config is not None else load_config(_config_path(settings))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = Store(settings.resolved_database_url())
        store.upgrade()
        # DBOS's own tables live in the same database; create or migrate them here so that an
        # API-only process (no worker) can enqueue from its first request.
        _own_dbos_logging()
        DBOS.migrate(store.url)
        return cls(settings, config, store, load_playbooks(config))

    def connectors_for(self, service: ServiceConfig | None) -> list[Connector]:
        """Fresh connectors for a service (none for an unmapped alert); one that cannot be built
        (an unset secret) is a stand-in whose queries are error evidence saying why."""
        if service is None:
            return []
        return [
            build_or_stand_in(name, self.config.connectors[name], self.config.base_dir)
            for name in service.connectors
        ]

    def brain(self) -> Brain:
        """The configured brain: `claude` when it has an API key (else rules, saying so)."""
        if self.config.brain == "claude":
            from triage.agent.claude import claude_brain  # imports anthropic: only when used

            # what a model vendor sees is redacted further: client IPs too (see redaction)
            return claude_brain(self.settings, self.config, self.store,
                                model_redactor_for(self.config), self.playbooks, self.metrics)
        return RulesBrain()

    @cached_property
    def redactor(self) -> Redactor:
        """What redacts evidence, steps, alerts and reports (the config's `redaction:` section)."""
        return redactor_for(self.config)

    @cached_property
    def metrics(self) -> Metrics:
        """This runtime's own metrics registry (served at /metrics; see triage.observability)."""
        return Metrics(self.store)

    @cached_property
    def intake(self) -> IntakePipeline:
        """The webhook intake's group-commit writer and background promoter, started on first
        use (an alert's 202 names its investigation; the promoter then creates and enqueues it)."""
        from triage.intake.pipeline import IntakePipeline  # the intake imports this module

        return IntakePipeline(self)

    @property
    def client(self) -> DBOSClient:
        """A DBOS client on the store's database, for enqueueing inside store transactions."""
        if self._client is None:
            self._client = DBOSClient(system_database_url=self.store.url)
        return self._client

    def close(self) -> None:
        """Stop the intake's threads (after committing what is queued); release connections."""
        if "intake" in self.__dict__:
            self.intake.close()
        if self._client is not None:
            self._client.destroy()
        self.store.dispose()


def load_playbooks(config: TriageConfig) -> PlaybookLibrary:
    """Load every playbook; a bad file is logged and skipped, a service naming an unknown
    playbook is a configuration error (it would otherwise fail on every alert)."""
    library = PlaybookLibrary(config.playbook_dirs)
    for error in library.errors:
        log.error("playbook skipped: %s", error)
    for service in config.services:
        if service.playbook and service.playbook not in library.playbooks:
            raise ConfigError(
                f"service {service.name!r} names unknown playbook {service.playbook!r}; "
                f"loaded: {', '.join(sorted(library.playbooks))}"
            )
    return library


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make `runtime` the one DBOS steps use."""
    global _current
    _current = runtime


def current() -> Runtime:
    """The installed runtime."""
    if _current is None:
        raise RuntimeError("no triage runtime installed; call triage.runtime.install first")
    return _current


def _config_path(settings: Settings) -> Path | None:
    if settings.config is not None:
        return settings.config
    default = Path("triage.yaml")
    return default if default.is_file() else None


def dbos_config(settings: Settings) -> DBOSConfig:
    """DBOS shares the store's database: its tables beside ours, so enqueue is transactional."""
    return {
        "name": "triage",
        "system_database_url": settings.resolved_database_url(),
        "executor_id": settings.worker_id,
        "log_level": "WARNING",
        "application_version": "triage-1",
    }


def enqueue_options(investigation_id: str, service: str | None) -> Any:
    """Enqueue options: the workflow id is the investigation id, so enqueueing is idempotent."""
    return {
        "workflow_name": "triage.investigate",
        "queue_name": QUEUE_NAME,
        "workflow_id": investigation_id,
        "queue_partition_key": service or "(unmapped)",
        "app_version": "triage-1",
    }
