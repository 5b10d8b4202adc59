"""PagerDuty REST API v2 objects turned into bounded Evidence rows and compact summaries.

Rows are log-shaped (`timestamp`, `message`, and `level` where PagerDuty has a severity) so the
same evidence reads naturally next to log lines; every other field keeps PagerDuty's own name.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

# An alert's `body.details` is free-form JSON a monitoring tool filled in; keep the first fields.
MAX_DETAIL_FIELDS = 40


def _ref(obj: Any, key: str = "summary") -> Any:
    """One field of a PagerDuty reference object (`{id, summary, html_url, ...}`), or None."""
    return obj.get(key) if isinstance(obj, dict) else None


def _names(refs: Any, inner: str | None = None) -> list[str]:
    """The summaries of a list of references, optionally nested (`assignments[].assignee`)."""
    names = []
    for item in refs if isinstance(refs, list) else []:
        target = item.get(inner) if inner and isinstance(item, dict) else item
        if (name := _ref(target)) is not None:
            names.append(str(name))
    return names


def _scalar(value: Any) -> Any:
    """A cell value: scalars as they are, anything nested as compact JSON text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def detail_fields(body: Any) -> dict[str, Any]:
    """An alert body's custom details flattened to `details.<key>` columns, bounded."""
    if not isinstance(body, dict):
        return {}
    details = body.get("details")
    if details is None and isinstance(body.get("cef_details"), dict):
        details = body["cef_details"].get("details")  # Events API v2 alerts nest them here
    if details is None:
        return {}
    if not isinstance(details, dict):
        return {"details": _scalar(details)}
    fields = {f"details.{key}": _scalar(value) for key, value in list(details.items())[:MAX_DETAIL_FIELDS]}
    if len(details) > MAX_DETAIL_FIELDS:
        fields["details_truncated"] = f"{len(details) - MAX_DETAIL_FIELDS} more fields not shown"
    return fields


def incident_row(incident: dict[str, Any]) -> dict[str, Any]:
    """One incident as a row: what it is, where it stands, who has it."""
    counts = incident.get("alert_counts")
    counts = counts if isinstance(counts, dict) else {}
    return {
        "timestamp": incident.get("created_at"),
        "message": incident.get("title") or incident.get("summary"),
        "id": incident.get("id"),
        "number": incident.get("incident_number"),
        "status": incident.get("status"),
        "urgency": incident.get("urgency"),
        "priority": _ref(incident.get("priority")),
        "service_id": _ref(incident.get("service"), "id"),
        "service": _ref(incident.get("service")),
        "escalation_policy": _ref(incident.get("escalation_policy")),
        "assignees": ", ".join(_names(incident.get("assignments"), "assignee")),
        "teams": ", ".join(_names(incident.get("teams"))),
        "incident_key": incident.get("incident_key"),
        "last_status_change_at": incident.get("last_status_change_at"),
        "resolved_at": incident.get("resolved_at"),
        "alerts_all": counts.get("all"),
        "alerts_triggered": counts.get("triggered"),
        "html_url": incident.get("html_url"),
    }


def alert_row(alert: dict[str, Any]) -> dict[str, Any]:
    """One alert as a row, its `body.details` custom fields flattened into columns."""
    body = alert.get("body")
    contexts = body.get("contexts") if isinstance(body, dict) else None
    links = [f"{_ref(c, 'text') or _ref(c, 'type')}: {_ref(c, 'href')}"
             for c in (contexts if isinstance(contexts, list) else []) if _ref(c, "href")]
    return {
        "timestamp": alert.get("created_at"),
        "level": alert.get("severity"),
        "message": alert.get("summary"),
        "id": alert.get("id"),
        "status": alert.get("status"),
        "alert_key": alert.get("alert_key"),
        "suppressed": alert.get("suppressed"),
        "service": _ref(alert.get("service")),
        "integration": _ref(alert.get("integration")),
        "links": "; ".join(links) or None,
        "html_url": alert.get("html_url"),
        **detail_fields(body),
    }


def log_entry_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One timeline entry: what happened (trigger, notify, acknowledge, ...), when, by whom."""
    kind = str(entry.get("type") or "").removesuffix("_log_entry")
    return {
        "timestamp": entry.get("created_at"),
        "message": entry.get("summary"),
        "type": kind,
        "agent": _ref(entry.get("agent")),
        "channel": _ref(entry.get("channel"), "type"),
        "note": _ref(entry.get("channel"), "summary") if kind == "annotate" else None,
        "id": entry.get("id"),
    }


def first_link(items: list[dict[str, Any]], key: str) -> str | None:
    """The web-app URL of the incident or service the first item refers to."""
    for item in items:
        if isinstance(url := _ref(item.get(key), "html_url"), str):
            return url
    return None


def _counted(values: list[Any], top: int = 4) -> str:
    """The most common values with their counts, most common first."""
    counts = Counter(str(v) for v in values if v is not None)
    return ", ".join(f"{value} ×{n}" for value, n in counts.most_common(top)) or "none"


def incident_summary(row: dict[str, Any]) -> str:
    """`#42 triggered high-urgency P1: <title>; service ...; N alerts; assigned to ...`."""
    priority = f" {row['priority']}" if row["priority"] else ""
    return (f"#{row['number']} {row['status']} {row['urgency']}-urgency{priority}: {row['message']}; "
            f"service {row['service']} ({row['service_id']}); created {row['timestamp']}; "
            f"{row['alerts_all'] if row['alerts_all'] is not None else '?'} alerts "
            f"({row['alerts_triggered'] or 0} triggered); "
            f"assigned to {row['assignees'] or 'nobody'}; escalation policy {row['escalation_policy']}")


def alerts_summary(rows: list[dict[str, Any]], total: int) -> str:
    """Statuses, severities, which custom detail fields exist, and the latest alert."""
    keys = sorted({k.removeprefix("details.") for row in rows for k in row if k.startswith("details.")})
    latest = max(rows, key=lambda r: str(r["timestamp"] or ""))
    return (f"{total} alerts; status: {_counted([r['status'] for r in rows])}; "
            f"severity: {_counted([r['level'] for r in rows])}; "
            f"custom detail fields: {', '.join(keys[:15]) or 'none'}"
            f"{' …' if len(keys) > 15 else ''}; latest: {latest['timestamp']} {latest['message']}")


def log_summary(rows: list[dict[str, Any]], total: int) -> str:
    """The timeline in one line: `12:00:01 trigger; 12:03:10 acknowledge by Alice; ...`."""
    steps = [f"{str(r['timestamp'])[11:19]} {r['type']}{' by ' + r['agent'] if r['agent'] else ''}"
             for r in sorted(rows, key=lambda r: str(r["timestamp"] or ""))[:10]]
    more = f"; … {total - len(steps)} more" if total > len(steps) else ""
    return f"{total} timeline entries: " + "; ".join(steps) + more


def history_summary(rows: list[dict[str, Any]], total: int) -> str:
    """How often the service paged in the window, grouped by title: the "seen before" answer."""
    titles: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        titles.setdefault(str(row["message"]), []).append(row)
    ranked = sorted(titles.items(), key=lambda item: (-len(item[1]), item[0]))[:5]
    groups = "; ".join(f"'{title}' ×{len(group)} (last {max(str(r['timestamp']) for r in group)})"
                       for title, group in ranked)
    service = rows[0]["service"] if rows else "?"
    return (f"{total} incidents of service {service} in the window; most frequent titles: {groups}; "
            f"status: {_counted([r['status'] for r in rows])}")
