"""Playbooks: which read-only queries to run for an alert, over which window.

A playbook is YAML validated by strict models (unknown keys are errors). The built-ins live in
the top-level `playbooks/` package; more directories come from `playbook_dirs` in triage.yaml.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors import EvidenceKind
from triage.analysis.signals import Thresholds
from triage.fix.config import ReproSpec
from triage.models import Alert
from triage.playbook_rules import HypothesisRule

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_TEMPLATES = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class PlaybookError(Exception):
    """A playbook is invalid or unknown; the message names the file or the name."""


def parse_duration(value: Any) -> timedelta:
    """`90s`, `15m`, `2h`, `1d` (or a number of seconds) to a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return timedelta(seconds=value)
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h, 1d)")
    try:
        return timedelta(**{_UNITS[match[2]]: int(match[1])})
    except OverflowError as exc:
        raise ValueError(f"duration {value!r} is too large") from exc


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc


class Strict(BaseModel):
    """Strict playbook section."""

    model_config = ConfigDict(extra="forbid")


class Window(Strict):
    """Time around the alert: baseline [start, onset), incident [onset, end)."""

    before: timedelta = timedelta(minutes=60)
    onset: timedelta = Field(default=timedelta(minutes=15), description="incident may begin this early")
    after: timedelta = timedelta(minutes=5)

    _parse = field_validator("before", "onset", "after", mode="before")(
        lambda value: parse_duration(value)
    )

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.onset >= self.before:
            raise ValueError(f"onset ({self.onset}) must be shorter than before ({self.before}): "
                             "the baseline is [alert - before, alert - onset)")
        return self

    def bounds(self, started_at: datetime) -> tuple[datetime, datetime, datetime]:
        """(start, onset, end) for an alert that started at `started_at`."""
        return started_at - self.before, started_at - self.onset, started_at + self.after


class QuerySpec(Strict):
    """One query, run on every connector of `kind` the service has."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: EvidenceKind
    query: str = Field(description="Jinja2 template; variables: service, alert")
    dialects: dict[str, str] = Field(
        default_factory=dict,
        description="connector type -> template in that backend's language; empty: skip it")
    description: str = ""
    limit: int = Field(default=500, ge=1, le=10_000)

    def template_for(self, connector_type: str) -> str:
        """The template for a connector type (its dialect, else the default query)."""
        return self.dialects.get(connector_type, self.query)

    def render(self, alert: Alert, service: str | None, connector_type: str = "") -> str:
        """The query text for this alert and backend; raises PlaybookError on a template error."""
        try:
            template = _TEMPLATES.from_string(self.template_for(connector_type))
            return template.render(service=service or "", alert=alert.model_dump(mode="json"))
        except TemplateError as exc:
            raise PlaybookError(f"query {self.id!r}: template error: {exc}") from exc
        except Exception as exc:
            raise PlaybookError(f"query {self.id!r}: template failed: {type(exc).__name__}: {exc}") from exc


class Match(Strict):
    """Regexes an alert must match (all given ones); an empty match matches every alert."""

    sources: list[str] = Field(default_factory=list)
    title: str | None = None
    service: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("title", "service")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            _compile(pattern)
        return pattern

    @field_validator("labels")
    @classmethod
    def _label_regexes(cls, labels: dict[str, str]) -> dict[str, str]:
        for pattern in labels.values():
            _compile(pattern)
        return labels

    def score(self, alert: Alert) -> int | None:
        """How specifically this matches (number of rules), or None when it does not."""
        if self.sources and alert.source.value not in self.sources:
            return None
        checks = [(self.title, alert.title), (self.service, alert.service or "")]
        checks += [(pattern, alert.labels.get(key, "")) for key, pattern in self.labels.items()]
        for pattern, value in checks:
            if pattern is not None and not re.search(pattern, value):
                return None
        return sum(p is not None for p, _ in checks) + bool(self.sources)


class Playbook(Strict):
    """What to look at first for a kind of alert."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    match: Match = Field(default_factory=Match)
    priority: int = 0
    window: Window = Field(default_factory=Window)
    queries: list[QuerySpec] = Field(default_factory=list)
    signals: Thresholds = Field(default_factory=Thresholds, description="analyzer thresholds")
    hypotheses: list[HypothesisRule] = Field(
        default_factory=list, description="evaluated before the default playbook's")
    repro: ReproSpec | None = Field(default=None, description="a service's own repro wins")


def load_playbook(path: Path) -> Playbook:
    """Parse and validate one playbook file; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
        return Playbook.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlaybookError(f"{path}: {exc}") from exc
    except ValidationError as exc:
        root = yaml.compose(text)
        problems = "\n".join(
            f"{path}:{_line_of(root, err['loc'])}: {'.'.join(map(str, err['loc'])) or '(top)'}: "
            f"{err['msg']}" for err in exc.errors())
        raise PlaybookError(problems) from exc


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the YAML node at `loc` (or of its nearest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
            if child is None:  # an unknown key: point at the key itself
                child = next((key for key, _ in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            return line
        node, line = child, child.start_mark.line + 1
    return line


def builtin_dir() -> Path:
    """Directory of the playbooks shipped with the package."""
    return Path(str(resources.files("playbooks")))


class PlaybookLibrary:
    """Every loaded playbook; a bad file is reported and skipped, the others still serve."""

    def __init__(self, dirs: list[Path], *, builtins: list[str] | None = None) -> None:
        """Load the built-ins (all, or only those named in `builtins`), then `dirs` in order:
        a later playbook with the same name replaces an earlier one."""
        self.playbooks: dict[str, Playbook] = {}
        self.errors: list[str] = []
        if builtins is not None:
            for name in builtins:
                self.playbooks[name] = load_playbook(builtin_dir() / f"{name}.yaml")
        directories = list(dirs) if builtins is not None else [builtin_dir(), *dirs]
        for directory in directories:
            for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
                try:
                    playbook = load_playbook(path)
                except PlaybookError as exc:
                    self.errors.append(str(exc))
                    continue
                self.playbooks[playbook.name] = playbook

    def named(self, name: str) -> Playbook:
        """The playbook called `name`."""
        if name not in self.playbooks:
            known = ", ".join(sorted(self.playbooks))
            raise PlaybookError(f"unknown playbook {name!r}; loaded: {known}")
        return self.playbooks[name]

    def rules_for(self, playbook: Playbook) -> list[HypothesisRule]:
        """The playbook's hypothesis rules, then the default playbook's for other categories."""
        rules = list(playbook.hypotheses)
        fallback = self.playbooks.get("default")
        if fallback is not None and fallback is not playbook:
            own = {rule.category for rule in rules}
            rules += [rule for rule in fallback.hypotheses if rule.category not in own]
        return rules

    def select(self, alert: Alert) -> Playbook:
        """The matching playbook with the highest priority, then the most specific match."""
        scored = [
            (pb.priority, score, pb.name, pb)
            for pb in self.playbooks.values()
            if (score := pb.match.score(alert)) is not None
        ]
        if not scored:
            raise PlaybookError(f"no playbook matches alert {alert.title!r}")
        return max(scored, key=lambda item: item[:3])[3]
