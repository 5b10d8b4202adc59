"""Error shapes: what kind of failure a log line describes, so a cause is judged by the share of
the anomaly each kind explains rather than by one keyword in one line.

A line has at most one shape, the first that matches in SHAPES' order (the more specific first:
a "connection pool exhausted" line is resource exhaustion, not a dependency; a "lock timeout" is
the database's, not a dependency's timeout; "configuration reloaded: timeout=3s" announces a
change, it is not a timeout).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Shape(StrEnum):
    """Kinds of failure a line can describe."""

    DB_LOCK = "db_lock"
    RESOURCE = "resource"
    OVERLOAD = "overload"
    INFRASTRUCTURE = "infrastructure"
    DEPENDENCY = "dependency"
    CODE = "code"
    CONFIG = "config"


SHAPES: list[tuple[Shape, re.Pattern[str]]] = [
    (Shape.DB_LOCK, re.compile(
        r"(?i)lock ?timeout|lock wait|deadlock|could not obtain lock|LockNotAvailable|"
        r"canceling statement due to (?:lock|statement) timeout|57014|AccessExclusiveLock|"
        r"lock_timeout|waiting for (?:a )?(?:row |table )?lock|"
        r"blocked by (?:pid|process|session)")),
    (Shape.RESOURCE, re.compile(
        r"(?i)out of memory|\bOOM|OutOfMemory|cannot allocate|memory limit|heap space|"
        r"no space left|disk (?:is )?full|quota exceeded|too many open files|EMFILE|"
        r"pool (?:is )?(?:exhausted|full|depleted)|exhausted (?:the )?(?:connection )?pool|"
        r"waiting for (?:a )?(?:connection|conn) from (?:the )?pool|no (?:free|available|idle) "
        r"connections?|(?:connection|thread|worker) pool .{0,40}(?:max|limit)|"
        r"too many (?:connections|clients)|remaining connection slots|max_connections|"
        r"cpu throttl|evicted|file descriptors?|"
        # no local port left for a new connection (ports held in TIME_WAIT)
        r"cannot assign requested address|EADDRNOTAVAIL|ephemeral ports?")),
    (Shape.OVERLOAD, re.compile(
        r"(?i)\b429\b|rate.?limit|too many requests|throttl|queue (?:is )?full|"
        r"(?:pool|workers?) saturated|saturat|backpressure|load ?shed|shedding|"
        r"over ?capacity|request queued|server (?:is )?busy|admission")),
    (Shape.INFRASTRUCTURE, re.compile(
        r"(?i)i/o error|\bEIO\b|input/output error|read-only file ?system|no route to host|"
        # errno 113 is EHOSTUNREACH: the peer's machine is gone (Envoy: "connect error: 113")
        r"EHOSTUNREACH|host (?:is )?unreachable|connect error: 113\b|errno[ =:]*113\b|"
        r"network (?:is )?unreachable|node (?:\S+ )?(?:not ?ready|unreachable|down)|NotReady|"
        r"kernel|nfs|disk (?:failure|error)|bad sector|hardware|host (?:\S+ )?down|"
        r"segmentation fault|SIGBUS|machine check|clock skew|ntp|"
        # a token "from the future": this machine's clock is behind (JWT iat / nbf checks)
        r"used before issued|issued in the future|not valid yet")),
    (Shape.CONFIG, re.compile(
        # a change announced, not any line that mentions configuration ("failed to refresh
        # feature flags: 502" is a dependency failing)
        r"(?i)config(?:uration)? (?:(?:was |has been )?(?:reload|change|update|push|appl)(?:ed)?)|"
        r"(?:reload|updat|apply|appl|push)(?:ed|ing) (?:the |new )?config|"
        r"(?:feature.?)?flag[ =:]+\S+ (?:(?:is |was |now )?(?:enabled|disabled|set|changed|flipped|"
        r"toggled|rolled out|turned (?:on|off)))|(?:enabled|disabled|flipped|toggled|rolled out) "
        r"(?:the )?(?:feature.?)?flag|settings? (?:changed|updated)|"
        r"(?:new|changed) (?:value|default) for \S+|flag (?:update|change)s? (?:received|applied)|"
        r"(?:config|values|settings|flags?)\S* (?:sync(?:ed)?|rolled out|pushed)|"
        r"sync(?:ed|ing)? (?:of )?\S*(?:config|values|settings)|=\s*\S+ \(was [^)]+\)")),
    (Shape.DEPENDENCY, re.compile(
        r"(?i)(?<!lock )(?<!statement )time(?:d ?)?out|connection (?:refused|reset|closed|aborted)|"
        r"reset by peer|\b50[234]\b|service unavailable|bad gateway|gateway timeout|upstream|"
        r"circuit.?breaker|name resolution|\bdns\b|getaddrinfo|ECONNREFUSED|ETIMEDOUT|"
        r"unavailable|remote (?:end|host)|handshake|certificate|name ?resolution|"
        r"failed to resolve|could not resolve|NXDOMAIN|EAI_AGAIN|no such host|unknown ?host|"
        r"deadline.?exceeded|code ?= ?(?:Unavailable|DeadlineExceeded)|no healthy upstream|"
        r"upstream connect error|\bUF\b|\bURX\b|\bUH\b|ssl|tls|"
        # a store that failed over: writes reach a node that is now a replica
        r"\bREADONLY\b|read[- ]only replica|failover|failed over|"
        # an AWS API call failed (botocore: "An error occurred (X) when calling the Y operation")
        r"when calling the \w+ operation")),
    (Shape.CODE, re.compile(
        r"(?:[A-Z]\w*(?:Error|Exception)\b|Traceback|panic:|\bnil pointer|NullPointer|"
        r"undefined (?:method|is not)|is not a function|unhandled|assert(?:ion)? ?fail|"
        r"KeyError|TypeError|AttributeError|IndexError|ValueError|ZeroDivision|"
        r"stack ?trace|unexpected (?:token|null|nil))")),
]


# An access line for a request this service served says only that it failed, not why: `GET
# /api/x 503` is a symptom, not a dependency's failure (an outbound call names a URL instead).
SERVED_REQUEST = re.compile(r"^\W*(?:\S+\s+){0,3}(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\s+/\S*"
                            r"(?:\s+HTTP/[\d.]+)?\"?\s+\d{3}\b(?:\s+in\s+\d+\s*m?s)?\W*$")


def shape_of(text: str) -> Shape | None:
    """The first shape whose pattern matches `text`, or None."""
    if SERVED_REQUEST.match(text):
        return None
    for shape, pattern in SHAPES:
        if pattern.search(text):
            return shape
    return None


def shape_shares(weighted: Iterable[tuple[str, int]]) -> dict[str, float]:
    """Each shape's share of the lines, from (text, count) pairs; shapeless lines count in the
    denominator so a rare shaped line among many others weighs little."""
    totals: dict[str, int] = {}
    overall = 0
    for text, count in weighted:
        overall += count
        shape = shape_of(text)
        if shape is not None:
            totals[shape.value] = totals.get(shape.value, 0) + count
    if overall == 0:
        return {}
    return {shape: round(count / overall, 3) for shape, count in
            sorted(totals.items(), key=lambda kv: -kv[1])}
