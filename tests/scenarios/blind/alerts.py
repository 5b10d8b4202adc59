"""Alert webhooks as PagerDuty (V3), Alertmanager and Datadog deliver them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from random import Random
from typing import Any

from tests.scenarios.blind.kit import iso


@dataclass(frozen=True)
class AlertSpec:
    """What fired: a title that names the symptom, never the cause."""

    alertname: str  # Prometheus-style rule name
    title: str  # human title (PagerDuty incident / Datadog monitor)
    detail: str  # the description line
    metric: str  # the metric the rule watched
    severity: str = "critical"


def _id(rng: Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def pagerduty_service_id(service: str) -> str:
    """The PagerDuty service id the triage config maps to this service."""
    return "P" + "".join(c for c in service.upper() if c.isalnum())[:6].ljust(6, "X")


def pagerduty(rng: Random, service: str, at: datetime, spec: AlertSpec) -> tuple[bytes, dict[str, str]]:
    """An `incident.triggered` V3 webhook and its delivery headers."""
    incident = _id(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", 14)
    sid = pagerduty_service_id(service)
    body: dict[str, Any] = {
        "event": {
            "id": f"01{_id(rng, '0123456789ABCDEFGHJKMNPQRSTVWXYZ', 24)}",
            "event_type": "incident.triggered",
            "resource_type": "incident",
            "occurred_at": iso(at),
            "agent": None,
            "client": {"name": "Prometheus"},
            "data": {
                "id": incident,
                "type": "incident",
                "number": rng.randrange(1000, 90000),
                "status": "triggered",
                "self": f"https://api.pagerduty.com/incidents/{incident}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident}",
                "incident_key": f"{service}/{spec.alertname}",
                "created_at": iso(at, millis=False),
                "title": spec.title,
                "urgency": "high" if spec.severity == "critical" else "low",
                "service": {
                    "id": sid,
                    "type": "service_reference",
                    "summary": f"{service} (prod)",
                    "self": f"https://api.pagerduty.com/services/{sid}",
                    "html_url": f"https://acme.pagerduty.com/services/{sid}",
                },
                "assignees": [],
                "escalation_policy": {
                    "id": "PESC0PS",
                    "type": "escalation_policy_reference",
                    "summary": "SRE primary",
                },
                "priority": {
                    "id": "PPRIO1",
                    "type": "priority_reference",
                    "summary": "P1" if spec.severity == "critical" else "P3",
                },
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }
    headers = {
        "x-webhook-id": f"{_id(rng, '0123456789abcdef', 8)}-{_id(rng, '0123456789abcdef', 4)}",
        "user-agent": "PagerDuty-Webhook/V3.0",
    }
    return _compact(body), headers


def alertmanager(rng: Random, service: str, at: datetime, spec: AlertSpec) -> tuple[bytes, dict[str, str]]:
    """A one-alert Alertmanager v4 group notification."""
    labels = {
        "alertname": spec.alertname,
        "env": "prod",
        "namespace": service,
        "service": service,
        "severity": spec.severity,
        "team": rng.choice(["payments", "growth", "platform", "core"]),
    }
    body = {
        "receiver": "sre-triage",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {
                    "summary": spec.title,
                    "description": spec.detail,
                    "runbook_url": f"https://runbooks.acme.example/{service}/{spec.alertname}",
                },
                "startsAt": iso(at),
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": f"http://prometheus.monitoring:9090/graph?g0.expr={spec.metric}&g0.tab=1",
                "fingerprint": _id(rng, "0123456789abcdef", 16),
            }
        ],
        "groupLabels": {"alertname": spec.alertname, "service": service},
        "commonLabels": labels,
        "commonAnnotations": {"summary": spec.title},
        "externalURL": "http://alertmanager.monitoring:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{spec.alertname}", service="{service}"}}',
        "truncatedAlerts": 0,
    }
    return _compact(body) + b"\n", {}


def datadog(rng: Random, service: str, at: datetime, spec: AlertSpec) -> tuple[bytes, dict[str, str]]:
    """A Datadog monitor webhook using the default payload template's variables."""
    monitor = str(rng.randrange(100_000_000, 300_000_000))
    event = str(rng.randrange(7_000_000_000_000_000_000, 7_400_000_000_000_000_000))
    ms = str(int(at.timestamp() * 1000))
    scope = f"env:prod,service:{service}"
    title = f"[Triggered on {{{scope}}}] {spec.title}"
    body = {
        "id": event,
        "event_type": "query_alert_monitor",
        "title": f"[{'P1' if spec.severity == 'critical' else 'P3'}] {title}",
        "body": f"%%%\n{spec.detail}\n@webhook-sre-triage\n%%%",
        "text_only_msg": f"{spec.detail}\n@webhook-sre-triage",
        "date": ms,
        "last_updated": ms,
        "priority": "normal",
        "link": f"https://app.datadoghq.com/event/jump_to?event_id={event}",
        "snapshot": "",
        "hostname": "",
        "tags": f"monitor, service:{service}, env:prod, team:sre",
        "service": service,
        "env": "prod",
        "aggreg_key": _id(rng, "0123456789abcdef", 32),
        "user": "",
        "org": {"id": "11023", "name": "Acme"},
        "alert_id": monitor,
        "alert_cycle_key": str(rng.randrange(7_000_000_000_000_000_000, 7_400_000_000_000_000_000)),
        "alert_transition": "Triggered",
        "alert_type": "error" if spec.severity == "critical" else "warning",
        "alert_status": spec.detail,
        "alert_priority": "P1" if spec.severity == "critical" else "P3",
        "alert_title": title,
        "alert_query": f"avg(last_5m):{spec.metric}{{{scope}}} > 0",
        "alert_scope": scope.replace(",", ", "),
        "alert_metric": spec.metric.split("{")[0],
        "metric_namespace": spec.metric.split(".")[0],
    }
    return _compact(body), {}


def _compact(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


SOURCES = {"pagerduty": pagerduty, "alertmanager": alertmanager, "datadog": datadog}
