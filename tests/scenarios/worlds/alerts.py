"""The alert as each source delivers it, in several payload variants, and how the service maps."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from tests.scenarios.worlds.model import World
from tests.scenarios.worlds.render import iso

SOURCES = ["pagerduty", "alertmanager", "datadog"]


def choose_variant(source: str, rng: random.Random) -> dict[str, Any]:
    """Which payload variant a world's alert uses."""
    if source == "pagerduty":
        return {"service_summary": rng.random() < 0.6, "number": rng.randint(100, 9999)}
    if source == "alertmanager":
        return {"label": rng.choice(["service", "service", "app", "job"]),
                "severity": rng.choice(["critical", "page", "warning"])}
    return {"tags_have_service": rng.random() < 0.7, "priority": rng.choice(["P1", "P2", "P3"])}


def _digest(world: World, n: int) -> str:
    return hashlib.sha256(f"{world.seed}:{world.service}".encode()).hexdigest()[:n]


def pagerduty_service_id(world: World) -> str:
    """The PagerDuty service id the world's service is mapped from."""
    return "P" + _digest(world, 6).upper()


def alert_body(world: World) -> dict[str, Any]:
    """The webhook body exactly as the source would deliver it."""
    at, variant = iso(world.alert_at), world.variant
    if world.source == "alertmanager":
        labels = {"alertname": "".join(w.title() for w in world.alert_title.split()[:3]),
                  variant["label"]: world.service, "severity": variant["severity"]}
        return {"version": "4", "status": "firing", "receiver": "triage",
                "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}', "truncatedAlerts": 0,
                "groupLabels": {"alertname": labels["alertname"]}, "commonLabels": labels,
                "commonAnnotations": {"summary": world.alert_title},
                "externalURL": "http://alertmanager.example:9093",
                "alerts": [{"status": "firing", "labels": labels,
                            "annotations": {"summary": world.alert_title},
                            "startsAt": at, "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus.example:9090/graph",
                            "fingerprint": _digest(world, 16)}]}
    if world.source == "datadog":
        millis = str(int(world.alert_at.timestamp() * 1000))  # a string: numbers are not safe yet
        tags = f"monitor, service:{world.service}, env:prod" if variant["tags_have_service"] \
            else "monitor, env:prod, team:core"
        return {"id": str(int(_digest(world, 12), 16)), "event_type": "query_alert_monitor",
                "title": f"[Triggered] {world.alert_title}", "date": millis,
                "last_updated": millis, "tags": tags, "alert_id": str(world.seed + 220000),
                "alert_cycle_key": str(int(_digest(world, 10), 16)),
                "alert_transition": "Triggered", "alert_type": "error",
                "alert_priority": variant["priority"], "alert_title": world.alert_title,
                "alert_query": f"avg(last_5m):avg:trace.http.request.errors{{service:{world.service}}}",
                "alert_scope": f"env:prod, service:{world.service}",
                "link": "https://app.datadoghq.com/monitors/221160"}
    incident_id = "Q" + _digest(world, 9).upper()
    service: dict[str, Any] = {"id": pagerduty_service_id(world), "type": "service_reference"}
    if variant["service_summary"]:
        service["summary"] = f"{world.service.title()} API"
    return {"event": {"id": f"01{incident_id}EVENT", "event_type": "incident.triggered",
                      "resource_type": "incident", "occurred_at": at, "agent": None, "client": None,
                      "data": {"id": incident_id, "type": "incident", "number": variant["number"],
                               "status": "triggered", "created_at": at, "urgency": "high",
                               "title": world.alert_title,
                               "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                               "service": service}}}


def service_match(world: World) -> dict[str, Any]:
    """The service's `match:` in triage.yaml for this alert's variant."""
    if world.source == "pagerduty":
        return {"pagerduty_service_ids": [pagerduty_service_id(world)]}
    if world.source == "alertmanager" and world.variant["label"] != "service":
        return {"labels": {world.variant["label"]: world.service}}
    return {}


def headers(world: World) -> dict[str, str]:
    """Extra delivery headers."""
    return {"x-webhook-id": f"{world.name}-1"} if world.source == "pagerduty" else {}
