"""Which services a service's failure points at, from its own log lines.

A line names another service by a URL it called (`host_called`), a field (`service=ledger`,
`upstream=…`, `peer.service`), a `host:port` or `host "…"` in a connection error, or a configured
service's name as a word. Names map to configured services by name, by `hosts:` patterns, by
`match.labels` values, or by a hostname's first label; an internal-looking host that maps to none
(`ledger:8443`, `ledger.internal`) is still a service to look for under its first label through
the caller's connectors; a public hostname (`api.cardproc.example`) is external and not followed.

Only names that rose with the failure count: lines naming them must be at least MIN_LINES of
the anomalous lines of the incident window, MIN_SHARE of them, and twice as frequent (per
minute) as in the baseline. Declared `depends_on` services come after the named ones, and only
when the failure looks like a dependency's (timeouts, refused connections).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

from triage.analysis.attribution import is_anomalous
from triage.analysis.drilldown_attributes import HOST_CALLED, attributes
from triage.analysis.shapes import Shape, shape_of
from triage.analysis.signals import AnalysisWindow
from triage.config import ServiceConfig, TriageConfig

MIN_LINES = 3
MIN_SHARE = 0.05
RISE = 2.0  # incident rate over baseline rate a named host needs (a steady trickle is no lead)
DEPENDENCY_SHARE = 0.2  # share of dependency-shaped anomalous lines that opens declared deps
SHOWN = 5

# Keys that name whom a line is about when they appear in its text (`service=ledger`).
_MESSAGE_KEYS = re.compile(
    r"(?i)^(?:host_called|service|svc|peer|peer[._]service|upstream\w*|downstream\w*|"
    r"dependency|dep|remote\w*|target\w*|callee|backend|server|host|hostname|endpoint|addr|"
    r"address|db[._]host|url)$")
# Structured fields that name the callee (not `service`/`host`: those name the emitter).
_FIELD_KEYS = re.compile(
    r"(?i)(?:^|\.)(?:peer[._]service|peer\.hostname|upstream\w*|downstream\w*|dependency|"
    r"remote[._](?:service|host\w*|addr\w*)|target[._](?:service|host\w*)|callee|"
    r"server\.address|net\.peer\.name|db[._]host|url|http\.url|url\.full)$")
_HOST_PORT = re.compile(r"(?<![\w./:@-])([A-Za-z][\w-]*(?:\.[\w-]+)*):(\d{2,5})(?![\w.])")
_HOST_WORD = re.compile(r"(?i)\bhost\s+\"?([A-Za-z][\w-]*(?:\.[\w-]+)*)\"?")
_NAME = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*")
_INTERNAL_SUFFIXES = (".internal", ".local", ".svc", ".cluster.local", ".lan", ".corp",
                      ".consul", ".intranet", ".private", ".home.arpa")
_CONNECTION_SHAPES = frozenset({Shape.DEPENDENCY, Shape.INFRASTRUCTURE, Shape.RESOURCE})
_SOURCE_FILES = frozenset({"java", "py", "go", "rb", "js", "ts", "kt", "scala", "php", "cs", "c",
                           "cc", "cpp", "h", "rs", "ex", "exs", "erl", "swift", "m", "pl"})
_NOT_HOSTS = frozenset({"localhost", "http", "https", "tcp", "udp", "grpc", "unix", "file"})


@dataclass(frozen=True)
class Candidate:
    """A service to follow, and why."""

    service: str
    configured: bool
    reason: str
    lines: int = 0
    share: float = 0.0
    named_as: tuple[str, ...] = ()
    declared: bool = False

    @property
    def short(self) -> str:
        """Why, in a few words (query step labels carry it)."""
        if self.declared:
            return "declared in depends_on"
        return f"named in {self.share:.0%} of anomalous lines"


@dataclass(frozen=True)
class Unfollowed:
    """A name the lines mention that is not followed, and why."""

    name: str
    reason: str
    lines: int = 0
    share: float = 0.0


@dataclass
class Discovery:
    """What one service's lines point at."""

    source: str
    anomalous: int
    candidates: list[Candidate] = field(default_factory=list)
    unfollowed: list[Unfollowed] = field(default_factory=list)


def names_in(row: dict[str, Any]) -> set[str]:
    """The hostnames and service names one log line mentions as whom it called (lower case)."""
    found: set[str] = set()
    message = str(row.get("message") or row.get("msg") or "")
    for key, value in attributes({"message": message}).items():
        if key == HOST_CALLED or _MESSAGE_KEYS.match(key):
            found.add(_host_of(value))
    structured = {k: v for k, v in row.items() if k not in ("message", "msg")}
    for key, value in attributes(structured).items():
        if key == HOST_CALLED or _FIELD_KEYS.search(key):
            found.add(_host_of(value))
    if shape_of(message) in _CONNECTION_SHAPES:  # `host:port` is a host in connection errors
        for match in [*_HOST_PORT.finditer(message), *_HOST_WORD.finditer(message)]:
            if match[1].rpartition(".")[2].lower() not in _SOURCE_FILES:
                found.add(match[1].lower())
    emitter = {str(row.get(k, "")).lower() for k in ("host", "hostname", "service")}
    return {name for name in found
            if _NAME.fullmatch(name) and name not in _NOT_HOSTS and name not in emitter}


def _host_of(value: str) -> str:
    """A URL's hostname, or the value itself without a port, lower case (an Envoy cluster,
    `outbound|8080||ledger.prod.svc.cluster.local`, by its last part)."""
    text = value.strip().lower()
    if "|" in text:
        text = next((part for part in reversed(text.split("|")) if part), "")
    if "://" in text:
        try:
            return (urlsplit(text).hostname or "").rstrip(".")
        except ValueError:
            return ""
    return text.partition("/")[0].rsplit(":", 1)[0].rstrip(".") if ":" in text else text


def resolve(name: str, config: TriageConfig) -> tuple[str, bool] | None:
    """The service `name` stands for: (configured service, True), (first label, False) for an
    internal-looking host no service claims, or None for an external host."""
    first = name.split(".", 1)[0]
    for service in config.services:
        aliases = {service.name.lower(), *(v.lower() for v in service.match.labels.values())}
        if name in aliases or first == service.name.lower() or any(
                fnmatchcase(name, pattern.lower()) for pattern in service.hosts):
            return service.name, True
    if "." not in name or name.endswith(_INTERNAL_SUFFIXES):
        return first, False
    return None


def discover(source: ServiceConfig | None, source_name: str,
             rows: Iterable[tuple[datetime, dict[str, Any]]], window: AnalysisWindow,
             config: TriageConfig) -> Discovery:
    """The services `source_name`'s anomalous lines point at, most named first, then its
    declared dependencies (when the failure looks like a dependency's)."""
    own = {source_name.lower(), *(h.lower() for h in (source.hosts if source else []))}
    words = _word_patterns(config, source_name)
    # (service, configured) or (external host, None) -> [baseline lines, incident lines]
    counts: dict[tuple[str, bool | None], list[int]] = {}
    aliases: dict[tuple[str, bool | None], set[str]] = {}
    anomalous = dependency_shaped = 0
    for stamp, row in rows:
        if stamp < window.start or stamp >= window.end or not is_anomalous(row):
            continue
        incident = stamp >= window.onset
        message = str(row.get("message") or "")
        if incident:
            anomalous += 1
            dependency_shaped += shape_of(message) == Shape.DEPENDENCY
        named = {n for n in names_in(row) if not _is_own(n, own)}
        named |= {name for name, word in words if word.search(message)}
        targets: set[tuple[str, bool | None]] = set()
        for name in sorted(named):
            resolved = resolve(name, config)
            key: tuple[str, bool | None] = (name, None) if resolved is None else resolved
            if key[0].lower() not in own:
                targets.add(key)
                aliases.setdefault(key, set()).add(name)
        for key in targets:
            counts.setdefault(key, [0, 0])[incident] += 1
    found = Discovery(source=source_name, anomalous=anomalous)
    for (name, configured), (before, during) in sorted(counts.items(), key=lambda kv: kv[0][0]):
        if not _rose(before, during, window, anomalous):
            continue
        share = round(during / anomalous, 3)
        if configured is None:
            found.unfollowed.append(Unfollowed(
                name, "an external host (no configured service answers on it)", during, share))
            continue
        shown = tuple(sorted(aliases[(name, configured)]))[:3]
        reason = (f"named in {share:.0%} of {source_name}'s anomalous lines "
                  f"(as {', '.join(shown)})")
        found.candidates.append(Candidate(name, configured, reason, during, share, shown))
    found.candidates.sort(key=lambda c: (-c.share, c.service))
    found.unfollowed.sort(key=lambda u: (-u.lines, u.name))
    del found.unfollowed[SHOWN:]
    named = {c.service for c in found.candidates}
    shaped = dependency_shaped / anomalous if anomalous else 0.0
    for dep in (source.depends_on if source else []):
        if dep in named:
            continue
        if shaped >= DEPENDENCY_SHARE:
            found.candidates.append(Candidate(
                dep, True, f"declared in triage.yaml ({source_name} depends_on {dep}); "
                f"{shaped:.0%} of {source_name}'s anomalous lines are timeouts or connection "
                "failures", declared=True))
        else:
            found.unfollowed.append(Unfollowed(
                dep, f"declared dependency, not followed: {source_name}'s anomalous lines do not "
                "look like a failing dependency"))
    return found


def _rose(before: int, during: int, window: AnalysisWindow, anomalous: int) -> bool:
    """Whether a name's lines are a lead: enough of them, a real share, more than before."""
    if during < MIN_LINES or not anomalous or during / anomalous < MIN_SHARE:
        return False
    rate = during / window.minutes(incident=True)
    return rate >= RISE * before / window.minutes(incident=False)


def _is_own(name: str, own: set[str]) -> bool:
    """A hostname of the service itself (`checkout`, `checkout.internal`, a `hosts:` pattern);
    the host a line was written on is its emitter, never a callee (see `names_in`)."""
    first = name.split(".", 1)[0]
    return any(name == o or first == o or fnmatchcase(name, o) for o in own)


def _word_patterns(config: TriageConfig, source_name: str) -> list[tuple[str, re.Pattern[str]]]:
    """Configured services (other than the source) as whole words, to spot `calling ledger`
    (not inside a hostname: `ledger.internal` is named as a host)."""
    return [(s.name.lower(), re.compile(rf"(?i)(?<![\w.-]){re.escape(s.name)}(?![\w-]|\.\w)"))
            for s in config.services if s.name != source_name and len(s.name) >= 3]
