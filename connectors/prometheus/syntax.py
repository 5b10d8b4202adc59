"""The Prometheus connector's query syntax: PromQL, optionally behind one command prefix.

    rate(http_requests_total{job="api"}[5m])     range query over the window (the default)
    range step=30s: rate(errors_total[1m])       range query with a minimum step
    instant: up{job="api"}                       instant query at the window's end
    series: up{job="api"}                        series active in the window
    labels:                                      label names in the window
    labels: up{job="api"}                        label names of the matching series
    label_values: job                            values of one label in the window
    label_values: instance up{job="api"}         ... of the matching series
    rules: type=alerting state=firing            rules and their state (now)
    alerts: severity=page                        active alerts (now)

A prefix is a command word, optional `key=value` options, then `:` and whitespace (or the end).
PromQL never has `word: ` with a space after the colon, so plain PromQL — including recording
rule names such as `job:errors:rate5m` — is never mistaken for a command.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from connectors.base import QueryRefused

Command = Literal["range", "instant", "series", "labels", "label_values", "rules", "alerts"]

_PREFIX = re.compile(
    r"^\s*(?P<command>range|instant|series|labels|label_values|rules|alerts)"
    r"(?P<options>(?:[ \t]+[A-Za-z_]+=\S+)*)[ \t]*:(?=\s|$)(?P<rest>.*)$",
    re.S,
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RULE_FILTERS = ("type", "name", "group", "file", "state", "health")
_RULE_TYPES = {"alert": "alerting", "alerting": "alerting", "record": "recording",
               "recording": "recording"}


@dataclass(frozen=True)
class PromQuery:
    """One parsed query: which API to call and with what."""

    command: Command
    expr: str = ""
    label: str = ""
    step: float | None = None
    filters: tuple[tuple[str, str], ...] = ()


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (`90s`, `1m30s`, `500ms`) or a plain number of seconds."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise QueryRefused(f"bad duration {text!r} (expected e.g. 30s, 5m, 1h30m)") from None
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise QueryRefused(f"bad duration {text!r}: must be positive")
    return seconds


def format_duration(seconds: float) -> str:
    """A duration in the largest single unit that is exact (`90m`, `15s`), as the UI expects."""
    whole = max(1, math.ceil(seconds))
    for unit in ("w", "d", "h", "m"):
        size = int(_UNIT_SECONDS[unit])
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def choose_step(window: float, cap: int, default: float, requested: float | None = None) -> float:
    """The smallest step, not below the default or the requested one, that keeps a range query
    at most `cap` points per series (a range query returns floor(window / step) + 1 points)."""
    floor_step = requested if requested is not None else default
    if window <= 0:
        return floor_step
    needed = window / (cap - 1) if cap > 1 else window * 2
    # whole seconds keep steps readable and the UI link exact; sub-second only when asked for
    return max(floor_step, float(math.ceil(needed)) if needed >= 1 else needed)


def parse_query(text: str) -> PromQuery:
    """Split a query into its command and arguments; raise `QueryRefused` naming what is wrong."""
    match = _PREFIX.match(text)
    if not match:
        return _range(text)
    command = match["command"]
    options = match["options"].split()
    rest = match["rest"].strip()
    if command == "range":
        return _range(rest, *options)
    if options:
        raise QueryRefused(f"{command}: takes no options (got {' '.join(options)})")
    if command == "instant":
        return PromQuery("instant", expr=_expr(rest, command))
    if command == "series":
        return PromQuery("series", expr=_expr(rest, command))
    if command == "labels":
        return PromQuery("labels", expr=rest)
    if command == "label_values":
        return _label_values(rest)
    return PromQuery(command, filters=_filters(command, rest))  # type: ignore[arg-type]


def _expr(text: str, command: str) -> str:
    if not text.strip():
        raise QueryRefused(f"{command}: needs a PromQL expression or selector after the colon")
    return text.strip()


def _range(expr: str, *options: str) -> PromQuery:
    step: float | None = None
    for option in options:
        key, _, value = option.partition("=")
        if key != "step":
            raise QueryRefused(f"range: unknown option {key!r} (known: step)")
        step = parse_duration(value)
    if not expr.strip():
        raise QueryRefused("empty query: give a PromQL expression, or a command such as `labels:`")
    return PromQuery("range", expr=expr.strip(), step=step)


def _label_values(rest: str) -> PromQuery:
    name, *selector = rest.split(maxsplit=1) or [""]
    if not _LABEL_NAME.fullmatch(name):
        raise QueryRefused(f"label_values: needs a label name first, like `label_values: job` "
                           f"(got {name!r})")
    return PromQuery("label_values", label=name, expr=selector[0].strip() if selector else "")


def _filters(command: str, rest: str) -> tuple[tuple[str, str], ...]:
    try:
        terms = shlex.split(rest)
    except ValueError as exc:
        raise QueryRefused(f"{command}: cannot parse {rest!r}: {exc}") from exc
    filters: list[tuple[str, str]] = []
    for term in terms:
        key, eq, value = term.partition("=")
        if not eq or not _LABEL_NAME.fullmatch(key) or not value:
            raise QueryRefused(f"{command}: filter {term!r} must be key=value, like state=firing")
        if command == "rules":
            if key not in RULE_FILTERS:
                raise QueryRefused(f"rules: unknown filter {key!r} (known: {', '.join(RULE_FILTERS)})")
            if key == "type":
                if value not in _RULE_TYPES:
                    raise QueryRefused(f"rules: type must be alerting or recording, not {value!r}")
                value = _RULE_TYPES[value]
        filters.append((key, value))
    return tuple(filters)
