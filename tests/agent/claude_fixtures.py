"""Helpers for the Claude brain tests: the demo incident with `brain: claude`, settings pointed at
the loopback Messages API, and a context gathered for real from the demo's connectors (for
tests that drive the brain directly, without a worker)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors import Evidence
from tests.conftest import make_settings, staged_demo
from tests.fakes.anthropic import API_KEY, FakeAnthropic
from triage import repository as repo
from triage.agent.base import Budget, Findings, InvestigationContext
from triage.agent.claude import ClaudeBrain, sandbox_planner
from triage.agent.tools import StepLog, ToolCall, ToolRegistry
from triage.analysis.redaction import model_redactor_for
from triage.analysis.runner import analyze
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.config import Settings, TriageConfig
from triage.fix.backends import sandbox_root
from triage.models import Alert, Source, StepRecord
from triage.observability import Metrics
from triage.runtime import Runtime

START, ONSET, END = "2026-11-20T12:50:00+00:00", "2026-11-20T13:35:00+00:00", "2026-11-20T13:55:00+00:00"
WINDOW = {"start": START, "end": END}
CULPRIT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
_EVIDENCE = re.compile(r'<evidence step="([^"]+)" connector="([^"]+)">')


def claude_settings(tmp_path: Path, fake: FakeAnthropic, **overrides: Any) -> Settings:
    """Settings isolated in `tmp_path`, with the key and base URL of the loopback API."""
    values: dict[str, Any] = {"anthropic_api_key": SecretStr(API_KEY),
                              "anthropic_base_url": fake.url, "anthropic_max_retries": 2,
                              "anthropic_model": "claude-sonnet-4-6"}
    return make_settings(tmp_path, **{**values, **overrides})


def claude_demo(tmp_path: Path, **changes: Any) -> tuple[Path, TriageConfig]:
    """The demo bundle staged, configured for the Claude brain (and `changes`)."""
    workdir, config = staged_demo(tmp_path)
    config.brain = "claude"
    for key, value in changes.items():
        setattr(config, key, value)
    return workdir, config


def evidence_steps(request: dict[str, Any]) -> dict[str, str]:
    """connector -> step id of the evidence quoted in the request's first message."""
    first = request["messages"][0]["content"][0]["text"]
    return {connector: step for step, connector in _EVIDENCE.findall(first)}


def investigation_of(request: dict[str, Any]) -> str:
    """The investigation id the first message names."""
    first = request["messages"][0]["content"][0]["text"]
    found = re.search(r"Investigation (inv_[0-9a-z_]+)\.", first)
    assert found, first[:200]
    return found.group(1)


@dataclass
class Direct:
    """A real context gathered from the demo connectors, to drive a brain without a worker."""

    runtime: Runtime
    context: InvestigationContext
    registry: ToolRegistry
    tmp_path: Path

    def brain(self, fake: FakeAnthropic, metrics: Metrics | None = None,
              **settings: Any) -> ClaudeBrain:
        """A Claude brain on this runtime's store, talking to `fake` (sandboxes as configured)."""
        configured = claude_settings(self.tmp_path, fake, **settings)
        runtime = self.runtime
        planner = sandbox_planner(
            runtime.config, runtime.playbooks,
            lambda: sandbox_root(configured.sandbox_dir, configured.data_dir),
            configured.brain_command_timeout_seconds)
        # as Runtime.brain() does: what the model sees is redacted further (client IPs)
        return ClaudeBrain(configured, runtime.store, model_redactor_for(runtime.config),
                           config=runtime.config,
                           playbooks=runtime.playbooks, sandbox=planner, metrics=metrics)

    def steps(self) -> dict[str, StepRecord]:
        """The investigation's recorded steps, by id."""
        with self.runtime.store.read() as conn:
            return {s.id: s for s in repo.list_steps(conn, self.context.investigation_id)}

    def investigate(self, fake: FakeAnthropic, budget: Budget | None = None,
                    metrics: Metrics | None = None, **settings: Any) -> Findings:
        """Run the brain once over this context."""
        return self.brain(fake, metrics, **settings).investigate(self.context, self.registry,
                                                                 budget or Budget())


@contextmanager
def direct(tmp_path: Path, evidence_rows: list[dict[str, Any]] | None = None,
           **changes: Any) -> Iterator[Direct]:
    """Gather the demo's logs and deploys for real (optionally with extra log rows first);
    no sandbox unless `sandbox=` says otherwise."""
    workdir, config = claude_demo(tmp_path, **{"sandbox": "none", **changes})
    if evidence_rows:
        import json

        logs = workdir / "logs.jsonl"
        logs.write_text("".join(json.dumps(r) + "\n" for r in evidence_rows) + logs.read_text())
    runtime = Runtime.from_settings(make_settings(tmp_path), config)
    service = config.service_named("checkout")
    registry = ToolRegistry(runtime.connectors_for(service), redactor=runtime.redactor)
    investigation_id = f"inv_{uuid.uuid4().hex[:20]}"
    log = StepLog(investigation_id, "gather")
    records = registry.call_many([
        ToolCall("query_logs", {"query": "service=checkout level!=info level!=debug", **WINDOW,
                                "limit": 5000}, label="error_logs on logs"),
        ToolCall("query_deploys", {"query": "service=checkout", **WINDOW}, label="recent_deploys on deploys"),
    ], log)
    with runtime.store.transaction() as conn:
        repo.save_steps(conn, records)
    window = AnalysisWindow(*(datetime.fromisoformat(t) for t in (START, ONSET, END)))
    cited = [CitedEvidence(r.id, Evidence.model_validate(r.detail)) for r in records]
    default = runtime.playbooks.playbooks["default"]
    context = InvestigationContext(
        investigation_id=investigation_id,
        alert=Alert(source=Source.PAGERDUTY, dedup_key="demo", title="Checkout 5xx error rate above 5%",
                    started_at=datetime(2026, 11, 20, 13, 50, tzinfo=UTC), service="checkout"),
        service="checkout", playbook="default", window=window, evidence=cited,
        signals=analyze(cited, window), rules=runtime.playbooks.rules_for(default))
    try:
        yield Direct(runtime, context, registry, tmp_path)
    finally:
        registry.close()
        runtime.close()
