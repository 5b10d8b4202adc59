"""One incident as data, and its bundle on disk (scenario.yaml, alert.json, logs, metrics,
deploys, and the repository when the service ships one)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import yaml

from tests.scenarios.blind.alerts import SOURCES, AlertSpec, pagerduty_service_id
from tests.scenarios.blind.kit import Telemetry, iso
from tests.scenarios.git_repos import History

NON_CODE = frozenset(
    {
        "resource-exhaustion",
        "db-contention",
        "dependency-failure",
        "traffic-surge",
        "infrastructure",
        "false-alarm",
    }
)


@dataclass
class Incident:
    """What happened, what fired, what was recorded, and what a correct triage concludes."""

    name: str
    service: str
    truth: str
    description: str
    alert: AlertSpec
    tel: Telemetry
    deploys: list[dict[str, Any]] = field(default_factory=list)
    repo: History | None = None
    service_extra: dict[str, Any] = field(default_factory=dict)  # repro, test, hosts, depends_on
    other_services: list[dict[str, Any]] = field(default_factory=list)
    expectations: dict[str, Any] = field(default_factory=dict)


def expectations_of(incident: Incident) -> dict[str, Any]:
    """The truth, plus what follows from it: false alarms abstain, causes without code blame none."""
    expected: dict[str, Any] = {"truth_category": incident.truth}
    if incident.truth == "false-alarm":
        expected["abstains"] = True
    if incident.truth in NON_CODE:
        expected["blames_commit"] = False
    expected.update(incident.expectations)
    return expected


def write(incident: Incident, source: str, rng: Random, root: Path) -> Path:
    """Render the bundle folder `root/<name>`; the path."""
    folder = root / incident.name
    folder.mkdir(parents=True, exist_ok=True)
    at = incident.tel.alert_at
    body, headers = SOURCES[source](rng, incident.service, at, incident.alert)
    (folder / "alert.json").write_bytes(body)
    (folder / "logs.jsonl").write_text(incident.tel.logs_jsonl(), encoding="utf-8")
    (folder / "metrics.csv").write_text(incident.tel.metrics_csv(), encoding="utf-8")
    deploys = sorted(incident.deploys, key=lambda d: d["deployed_at"])
    (folder / "deploys.json").write_text(json.dumps(deploys, indent=2) + "\n", encoding="utf-8")
    service: dict[str, Any] = {"name": incident.service, "connectors": ["logs", "metrics", "deploys"]}
    if source == "pagerduty":
        service["match"] = {"pagerduty_service_ids": [pagerduty_service_id(incident.service)]}
    if incident.repo is not None:
        incident.repo.bundle(folder / "repo.bundle")
        service["repository"] = "repo.bundle"
    service.update(incident.service_extra)
    config: dict[str, Any] = {
        "services": [service, *incident.other_services],
        "connectors": {
            "logs": {"type": "files_logs", "path": "logs.jsonl"},
            "metrics": {"type": "files_metrics", "path": "metrics.csv"},
            "deploys": {"type": "files_deploys", "path": "deploys.json"},
        },
        "sandbox": "local" if incident.repo is not None else "none",
    }
    scenario = {
        "name": incident.name,
        "description": incident.description,
        "source": source,
        "headers": headers,
        "incident_time": iso(at, millis=False),
        "config": config,
        "expectations": expectations_of(incident),
    }
    (folder / "scenario.yaml").write_text(
        yaml.safe_dump(scenario, sort_keys=False, width=100), encoding="utf-8"
    )
    return folder
