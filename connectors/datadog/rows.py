"""Datadog responses (plain JSON-shaped dicts) turned into bounded, JSON-safe evidence rows."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from connectors.timeparse import parse_timestamp

_DIGITS = re.compile(r"\d+")
# Tags that carry the deployed commit, in the order we trust them.
_COMMIT_TAGS = ("git.commit.sha", "git_commit_sha", "commit", "git_commit", "sha")


def iso(value: Any) -> str | None:
    """An ISO 8601 UTC time from a datetime, ISO text or epoch seconds / milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    try:
        return parse_timestamp(value).isoformat()
    except ValueError:
        return str(value)


def compact_json(value: Any) -> str:
    """A compact, stable JSON string (dates as text); empty for nothing."""
    if not value:
        return ""
    return json.dumps(value, default=str, sort_keys=True, separators=(",", ":"))


def tag_values(tags: list[str]) -> dict[str, str]:
    """`["service:checkout", "env:prod"]` → `{"service": "checkout", "env": "prod"}` (first wins)."""
    values: dict[str, str] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        if sep and key not in values:
            values[key] = value
    return values


def log_row(item: dict[str, Any]) -> dict[str, Any]:
    """One log from `POST /api/v2/logs/events/search`."""
    attrs = item.get("attributes") or {}
    custom = attrs.get("attributes") or {}
    return {
        "timestamp": iso(attrs.get("timestamp")),
        "level": str(attrs.get("status") or "").lower(),
        "service": attrs.get("service") or "",
        "host": attrs.get("host") or "",
        "message": attrs.get("message") or str(custom.get("message") or ""),
        "tags": ",".join(attrs.get("tags") or []),
        "attributes": compact_json(custom),
        "id": item.get("id") or "",
    }


def event_row(item: dict[str, Any]) -> dict[str, Any]:
    """One event from `GET /api/v2/events`, shaped as a deploy record (`deployed_at`, `service`,
    `commit`) so deploy correlation can use it."""
    attrs = item.get("attributes") or {}
    inner = attrs.get("attributes") or {}
    tags = list(attrs.get("tags") or inner.get("tags") or [])
    by_key = tag_values(tags)
    when = iso(attrs.get("timestamp")) or iso(inner.get("timestamp"))
    commit = next((by_key[key] for key in _COMMIT_TAGS if by_key.get(key)), "")
    return {
        "deployed_at": when,
        "timestamp": when,
        "service": inner.get("service") or by_key.get("service", ""),
        "commit": commit,
        "version": by_key.get("version", ""),
        "title": inner.get("title") or "",
        "message": attrs.get("message") or "",
        "source": inner.get("source_type_name") or by_key.get("source", ""),
        "status": str(inner.get("status") or ""),
        "tags": ",".join(tags),
        "id": item.get("id") or "",
    }


def metric_rows(series: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per non-empty point of every series, series by series, in time order."""
    rows = []
    for each in series:
        name = each.get("display_name") or each.get("metric") or each.get("expression") or "?"
        scope = each.get("scope") or ""
        for point in each.get("pointlist") or []:
            stamp, value = point[0], point[1]
            if stamp is None or value is None:  # Datadog marks gaps with null values
                continue
            rows.append({"timestamp": iso(float(stamp) / 1000), "metric": name, "scope": scope,
                         "value": float(value)})
    return rows


def top_messages(rows: list[dict[str, Any]], field: str = "message", count: int = 3) -> str:
    """The most frequent messages, digits masked so variants group together."""
    messages = Counter(_DIGITS.sub("N", str(row.get(field, "")))[:120] for row in rows)
    return "; ".join(f"{n}× {text}" for text, n in messages.most_common(count))


def by_level(rows: list[dict[str, Any]]) -> str:
    """`error=12, info=3`."""
    levels = Counter(str(row.get("level") or "?") for row in rows)
    return ", ".join(f"{level}={n}" for level, n in levels.most_common())
