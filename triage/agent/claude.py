"""The `claude` brain: an Anthropic Messages API tool-use loop over the same read-only tools as
the rules brain, the analyzers and (when configured) a sandbox, starting from the rules brain's
first response. Without an API key the rules brain runs instead, and its findings say so.

    brain = claude_brain(settings, config, store, redactor, playbooks)
    findings = brain.investigate(context, tools, budget_from(settings))
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anthropic
from opentelemetry.trace import Tracer

from sandbox.base import Limits, RepoSpec
from triage.agent.base import Brain, Budget, Findings, InvestigationContext
from triage.agent.claude_conversation import Conversation, Parts
from triage.agent.claude_fix import forward_check
from triage.agent.claude_models import model_spec
from triage.agent.claude_sandbox import SandboxPlan, SandboxSession
from triage.agent.claude_settings import ClaudeSettings, model_problem
from triage.agent.claude_tracing import otlp_tracer
from triage.agent.rules import RulesBrain
from triage.agent.tools import ToolRegistry
from triage.agent.turns import TurnStore
from triage.analysis.redaction import Redactor
from triage.config import Settings, TriageConfig
from triage.fix.backends import make_backend, repository_source, sandbox_root
from triage.fix.plan import deployed_target, repro_spec
from triage.observability import Metrics
from triage.playbook import PlaybookLibrary
from triage.store import Store

NO_KEY = ("brain `claude` is configured but TRIAGE_ANTHROPIC_API_KEY is not set: the rules brain "
          "ran instead")

Planner = Callable[[InvestigationContext], SandboxPlan | None]


def make_client(settings: ClaudeSettings) -> anthropic.Anthropic:
    """The SDK client: key and base URL (retries and timeouts are set per call, from the time
    budget: see `claude_calls`)."""
    assert settings.anthropic_api_key is not None
    return anthropic.Anthropic(api_key=settings.anthropic_api_key.get_secret_value(),
                               base_url=settings.anthropic_base_url, max_retries=0,
                               timeout=settings.anthropic_timeout_seconds)


class ClaudeBrain:
    """Ranks hypotheses by letting Claude call tools, within a budget."""

    name = "claude"

    def __init__(self, settings: ClaudeSettings, store: Store, redactor: Redactor, *,
                 config: TriageConfig | None = None, playbooks: PlaybookLibrary | None = None,
                 sandbox: Planner | None = None, client: anthropic.Anthropic | None = None,
                 metrics: Metrics | None = None, tracer: Tracer | None = None) -> None:
        """`client` defaults to one made from the settings for each investigation; `config`
        plans how a forward fix is verified (the service's repro and tests); `tracer` (default:
        the OTLP one when `brain_otlp_endpoint` is set, else none) makes GenAI spans."""
        self.settings = settings
        self.store = store
        self.redactor = redactor
        self.config = config
        self.playbooks = playbooks
        self.sandbox = sandbox
        self.client = client
        self.metrics = metrics
        endpoint = settings.brain_otlp_endpoint
        self.tracer = tracer or (otlp_tracer(endpoint) if endpoint else None)

    def investigate(self, context: InvestigationContext, tools: ToolRegistry,
                    budget: Budget) -> Findings:
        """Start from the rules brain's findings; let the model test and extend them."""
        spec = model_spec(self.settings.anthropic_model, self.settings.anthropic_models)
        if spec is None or model_problem(self.settings):  # `triage config check` says so too
            return RulesInstead(f"brain `claude` not run: {model_problem(self.settings)}"
                                ).investigate(context, tools, budget)
        first = RulesBrain().investigate(context, tools, budget)
        plan = self.sandbox(context) if self.sandbox else None
        session = SandboxSession(plan) if plan else None
        forward = (forward_check(self.config, self.playbooks, context, first)
                   if session is not None and self.config is not None else None)
        client = self.client or make_client(self.settings)
        playbook = self.playbooks.playbooks.get(context.playbook) if self.playbooks else None
        try:
            return Conversation(Parts(
                settings=self.settings, spec=spec, context=context, registry=tools, budget=budget,
                first=first, client=client,
                turns=TurnStore(self.store, context.investigation_id, self.redactor),
                redactor=self.redactor, session=session,
                playbook_description=playbook.description if playbook else "",
                forward=forward, metrics=self.metrics, tracer=self.tracer)).run()
        finally:
            if session is not None:
                session.close()
            if self.client is None:
                client.close()


class RulesInstead:
    """The rules brain, with a note saying why it ran instead of the configured one."""

    name = "rules"

    def __init__(self, reason: str) -> None:
        """`reason` leads the findings' notes."""
        self.reason = reason

    def investigate(self, context: InvestigationContext, tools: ToolRegistry,
                    budget: Budget) -> Findings:
        """The rules brain's findings, noting why no model ran."""
        findings = RulesBrain().investigate(context, tools, budget)
        findings.notes.insert(0, self.reason)
        return findings


def sandbox_planner(config: TriageConfig, playbooks: PlaybookLibrary | None,
                    root: Callable[[], Path], command_timeout: float) -> Planner | None:
    """Where a service's sandbox comes from: its repository at the deployed commit (found as the
    reproduce stage finds it), with the repro's environment; `root()` is the cache."""
    if config.sandbox == "none":
        return None

    def planned(context: InvestigationContext) -> SandboxPlan | None:
        service = config.service_named(context.service)
        if service is None or not service.repository:
            return None
        evidence = [cited.evidence for cited in context.evidence]
        target = deployed_target(evidence, service.name, context.alert.started_at)
        playbook = playbooks.playbooks.get(context.playbook) if playbooks else None
        found = repro_spec(service, playbook)
        env = dict(found[0].env) if found else {}
        repo = RepoSpec(repository_source(service.repository, config.base_dir),
                        target.commit if target else "HEAD", env=env)
        return SandboxPlan(make_backend(config.sandbox, root()), repo,
                           Limits(timeout_seconds=command_timeout))

    return planned


def claude_brain(settings: Settings, config: TriageConfig, store: Store, redactor: Redactor,
                 playbooks: PlaybookLibrary, metrics: Metrics | None = None) -> Brain:
    """The Claude brain when a key is set; otherwise the rules brain, saying why."""
    if settings.anthropic_api_key is None or not settings.anthropic_api_key.get_secret_value():
        return RulesInstead(NO_KEY)
    problem = model_problem(settings)
    if problem is not None:
        return RulesInstead(f"brain `claude` not run: {problem}")
    planner = sandbox_planner(config, playbooks,
                              lambda: sandbox_root(settings.sandbox_dir, settings.data_dir),
                              settings.brain_command_timeout_seconds)
    return ClaudeBrain(settings, store, redactor, config=config, playbooks=playbooks,
                       sandbox=planner, metrics=metrics)
