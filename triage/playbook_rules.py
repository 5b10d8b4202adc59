"""Hypothesis rules: how a playbook maps analyzer signals to a ranked, cited hypothesis.

    hypotheses:
      - category: db-contention
        title: "Database lock contention: {signal}"
        all: [{signal: new_errors, text: "(?i)lock timeout|deadlock"}]   # each must be met
        any: [{signal: metric_shift, metric: "(?i)latency|db_", direction: rose},
              {signal: new_errors, shape: db_lock, min_share: 0.3}]  # one must be
        against: [{signal: recent_deploy}]                                # lowers confidence
        cite: [{signal: db_blocking}]             # listed with its evidence when it fires
        base: 0.35
        weight: 0.5

Confidence = base + weight * (mean strength of the supporting signals), minus 0.15 for each
`against` condition some other signal meets, capped to [0, 0.95]. `cite` signals say more about
the cause (who holds a pool's connections) without making the rule fire or moving its confidence.
`signal: symptom` means any signal that is not a deploy.
"""

from __future__ import annotations

import re
from statistics import fmean
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from triage.analysis.metric_roles import role_of
from triage.analysis.shapes import Shape, shape_shares
from triage.analysis.signals import Signal, SignalKind

SYMPTOM = "symptom"
COUNTER_PENALTY = 0.15
MAX_CONFIDENCE = 0.95


class SignalMatch(BaseModel):
    """One condition over a signal."""

    model_config = ConfigDict(extra="forbid")

    signal: str = Field(description="a signal kind, or `symptom` for any non-deploy signal")
    text: str | None = Field(default=None, description="regex over the title and templates")
    metric: str | None = Field(default=None, description="regex over the metric name")
    direction: Literal["rose", "fell"] | None = None
    min_strength: float = Field(default=0.0, ge=0.0, le=1.0)
    shape: str | None = Field(default=None, description="an error shape (see analysis.shapes) "
                              "the new and risen error lines must show")
    min_share: float = Field(default=0.0, ge=0.0, le=1.0, description="with `shape`: its least "
                             "share of the new error lines; for drill-down: the value's share")
    field: str | None = Field(default=None, description="drill-down: regex over the attribute")
    role: Literal["errors", "latency", "traffic", "other"] | None = Field(
        default=None, description="metric shifts: what the series measures (name and labels)")
    outbound: bool | None = Field(default=None, description="metric shifts: calls to others")
    mode: Literal["concentration", "shift"] | None = Field(default=None,
                                                           description="drill-down: which kind")

    @field_validator("signal")
    @classmethod
    def _known(cls, value: str) -> str:
        known = {kind.value for kind in SignalKind} | {SYMPTOM}
        if value not in known:
            raise ValueError(f"unknown signal {value!r}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("shape")
    @classmethod
    def _shape(cls, value: str | None) -> str | None:
        known = {shape.value for shape in Shape}
        if value is not None and value not in known:
            raise ValueError(f"unknown shape {value!r}; known: {', '.join(sorted(known))}")
        return value

    @field_validator("text", "metric", "field")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return pattern

    def matches(self, signal: Signal) -> bool:
        """Whether `signal` meets this condition."""
        if self.signal == SYMPTOM:
            if signal.kind == SignalKind.RECENT_DEPLOY:
                return False
        elif signal.kind.value != self.signal:
            return False
        if signal.strength < self.min_strength:
            return False
        if self.direction and signal.detail.get("direction") != self.direction:
            return False
        if self.metric and not re.search(self.metric, str(signal.detail.get("metric", ""))):
            return False
        if self.field and not re.search(self.field, str(signal.detail.get("field", ""))):
            return False
        if self.role and _role(signal) != self.role:
            return False
        if self.outbound is not None and bool(signal.detail.get("outbound")) != self.outbound:
            return False
        if self.mode and signal.detail.get("mode") != self.mode:
            return False
        if self.shape is not None:
            if _shares(signal).get(self.shape, 0.0) < max(self.min_share, 1e-9):
                return False
        elif self.min_share and float(signal.detail.get("share", 0.0)) < self.min_share:
            return False
        return not self.text or re.search(self.text, _searchable(signal)) is not None


def _role(signal: Signal) -> str:
    """What a metric signal's series measures (as the analyzer said, or from its name)."""
    return str(signal.detail.get("role") or role_of(str(signal.detail.get("series")
                                                       or signal.detail.get("metric", ""))))


def _shares(signal: Signal) -> dict[str, float]:
    """The error shapes of a signal's lines: as the analyzer measured them, or (for a signal
    from elsewhere, e.g. a model or an older store) from the templates it carries."""
    measured = signal.detail.get("shapes")
    if isinstance(measured, dict):
        return {str(k): float(v) for k, v in measured.items() if isinstance(v, int | float)}
    templates = [*signal.detail.get("templates", []), *signal.detail.get("risen", [])]
    return shape_shares((f"{t.get('template', '')} {t.get('sample', '')}", int(t.get("count") or 1))
                        for t in templates if isinstance(t, dict))


def _searchable(signal: Signal) -> str:
    templates = [str(t.get("template", "")) + " " + str(t.get("sample", ""))
                 for t in signal.detail.get("templates", [])]
    return "\n".join([signal.title, *templates])


class RuleOutcome(BaseModel):
    """A rule that fired: the evidence for and against it."""

    confidence: float
    support: list[Signal]
    against: list[Signal]
    title: str
    suspect_commit: str | None = None


class HypothesisRule(BaseModel):
    """Signals that, together, point at one cause."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str = Field(description="{signal}: the strongest supporting signal; {service}; "
                       "{deploy}: the supporting deploy; {change}: the strongest configuration change")
    all: list[SignalMatch] = Field(default_factory=list)
    any: list[SignalMatch] = Field(default_factory=list)
    against: list[SignalMatch] = Field(default_factory=list)
    cite: list[SignalMatch] = Field(default_factory=list, description="signals cited with the "
                                    "evidence when the rule fires; they never make it fire nor "
                                    "move its confidence")
    base: float = Field(default=0.3, ge=0.0, le=1.0)
    weight: float = Field(default=0.5, ge=0.0, le=1.0)
    fallback: bool = Field(default=False, description="only when no other rule fires")
    blame: Literal["nearest_deploy"] | None = Field(
        default=None, description="name the commit of the supporting deploy (or of a "
        "configuration-only deploy among the support) as the suspect")

    @model_validator(mode="after")
    def _has_conditions(self) -> HypothesisRule:
        if not self.all and not self.any:
            raise ValueError(f"hypothesis {self.category!r} needs at least one `all` or `any` condition")
        return self

    def evaluate(self, signals: list[Signal], service: str | None) -> RuleOutcome | None:
        """The outcome when every `all` condition and one `any` condition (if given) are met."""
        support: list[Signal] = []
        for condition in self.all:
            found = [s for s in signals if condition.matches(s)]
            if not found:
                return None
            # One deploy is blamed (the nearest: deploys arrive nearest first); every symptom counts.
            chosen = found[:1] if condition.signal == SignalKind.RECENT_DEPLOY.value else found
            support += [s for s in chosen if s not in support]
        if self.any:
            extra = [s for s in signals if any(c.matches(s) for c in self.any)]
            if not extra:
                return None
            support += [s for s in extra if s not in support]
        against = [s for s in signals if s not in support
                   and any(c.matches(s) for c in self.against)]
        # Each kind of counter-evidence counts once: three traffic metrics that rose are one
        # reason to doubt a deploy, not three.
        doubts = sum(1 for c in self.against if any(c.matches(s) for s in against))
        confidence = self.base + self.weight * fmean(s.strength for s in support)
        confidence = max(0.0, min(MAX_CONFIDENCE, confidence - COUNTER_PENALTY * doubts))
        strongest = max(support, key=lambda s: s.strength)
        deploy = next((s for s in support if s.kind == SignalKind.RECENT_DEPLOY), None)
        # {change}: the configuration change itself (a lowered limit, a values-only deploy) is
        # what the first line should name, not the errors it caused.
        change = max((s for s in support if s.kind == SignalKind.CONFIG_EVENT),
                     key=lambda s: s.strength, default=strongest)
        title = self.title.format(signal=strongest.title, service=service or "the service",
                                  deploy=deploy.title if deploy else "", change=change.title)
        # A configuration-only deploy reaches a rule as a config_event carrying its commit.
        blamed = deploy or next((s for s in support if s.kind == SignalKind.CONFIG_EVENT
                                 and s.detail.get("commit")), None)
        suspect = str(blamed.detail.get("commit")) if blamed and self.blame else None
        cited = [s for s in signals if s not in support and s not in against
                 and any(c.matches(s) for c in self.cite)]
        return RuleOutcome(confidence=round(confidence, 3), support=support + cited, against=against,
                           title=title, suspect_commit=suspect)
