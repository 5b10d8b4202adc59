"""`triage bundle export`: a scenario bundle (see `triage.scenarios`) from a real investigation.

The bundle holds the stored alert body (stored redacted), the evidence its `gather` stage read as
files connectors' data, the service's configuration pointed at those files, and expectations
from the latest feedback, so that `triage eval` replays the incident as a regression test.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Connection

from connectors import Evidence
from connectors.base import EvidenceKind, EvidenceStatus
from triage import repository as repo
from triage.config import ServiceConfig, TriageConfig
from triage.fix.backends import repository_source
from triage.models import Alert, Source, StepKind
from triage.report.build import Report
from triage.scenarios import ABSTAIN, COMMIT_CATEGORIES, FALSE_ALARM, conclusion_of
from triage.store import Store

# Evidence kinds a bundle carries as files, with the files connector that reads each back.
FILES = {EvidenceKind.LOGS: ("logs.jsonl", "files_logs"),
         EvidenceKind.METRICS: ("metrics.csv", "files_metrics"),
         EvidenceKind.DEPLOYS: ("deploys.json", "files_deploys")}
# Service settings that reach beyond the incident (other services, pull requests, Slack) stay out.
DROPPED = {"depends_on", "follow", "pull_requests", "slack_channel", "connectors", "repository"}


class ExportError(Exception):
    """The investigation cannot be exported; the message says why."""


def export_bundle(store: Store, investigation_id: str, out: Path,
                  config: TriageConfig | None = None) -> list[str]:
    """Write the bundle into `out` (created; must be empty); return the files written."""
    with store.read() as conn:
        row = repo.get_investigation(conn, investigation_id)
        if row is None:
            raise ExportError(f"no investigation {investigation_id} in this store")
        alert, alert_row = repo.load_alert(conn, row["alert_id"])
        if alert.source == Source.SLACK:
            raise ExportError(f"{investigation_id} was started from Slack: no webhook to replay")
        said = repo.list_feedback(conn, investigation_id)
        if not said:
            raise ExportError(f"no feedback on {investigation_id}: say whether its verdict was "
                              f"right first (`triage feedback {investigation_id} --right`)")
        stored = repo.get_report(conn, investigation_id)
        evidence = _gathered(conn, investigation_id)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    service = (config or TriageConfig()).service_named(row["service"])
    report = Report.model_validate(stored["body"]) if stored else None
    written = ["alert.json"]
    body = only_this_alert(alert_row["payload"], alert)
    (out / "alert.json").write_text(json.dumps(body), encoding="utf-8")
    connectors: dict[str, dict[str, Any]] = {}
    for kind, found in evidence.items():
        filename, connector_type = FILES[kind]
        writer = {EvidenceKind.LOGS: write_logs, EvidenceKind.METRICS: _write_metrics,
                  EvidenceKind.DEPLOYS: _write_deploys}[kind]
        writer(out / filename, found)
        names = {e.connector for e in found}
        # The original connector names, so the service's own queries still find them.
        fields = log_fields(found, config) if kind == EvidenceKind.LOGS else {}
        for name in sorted(names):
            connectors[name] = {"type": connector_type, "path": filename, **fields}
        written.append(filename)
    kinds = {kind.value for kind in evidence}
    service_entry = _service(service, row["service"], alert.labels, connectors, config, out,
                             kinds)
    if "repository" in service_entry and service_entry["repository"] == "repo.bundle":
        written.append("repo.bundle")
    scenario = {
        "name": f"{row['service'] or 'unmapped'}-{investigation_id}",
        "description": f"Exported from {investigation_id}: {alert.title}",
        "source": alert.source.value,
        "headers": {"x-webhook-id": f"export-{investigation_id}"},
        "incident_time": alert.started_at.isoformat(),
        "config": {"services": [service_entry], "connectors": connectors,
                   "sandbox": config.sandbox if config else "none"},
        "expectations": expectations(said[-1], report),
    }
    (out / "scenario.yaml").write_text(yaml.safe_dump(scenario, sort_keys=False),
                                       encoding="utf-8")
    return ["scenario.yaml", *written]


def only_this_alert(payload: Any, alert: Alert) -> Any:
    """The delivered body, an Alertmanager group cut to this investigation's alert (a replay
    investigates the first alert of a group, and the others are other investigations)."""
    if alert.source != Source.ALERTMANAGER or not isinstance(payload, dict):
        return payload
    from triage.intake.alertmanager import AlertmanagerAlert, dedup_key

    kept = [raw for raw in payload.get("alerts", [])
            if dedup_key(AlertmanagerAlert.model_validate(raw)) == alert.dedup_key]
    return {**payload, "alerts": kept or payload.get("alerts", [])}


def _gathered(conn: Connection, investigation_id: str) -> dict[EvidenceKind, list[Evidence]]:
    """The gather stage's successful queries of the kinds a bundle can carry, by kind."""
    found: dict[EvidenceKind, list[Evidence]] = defaultdict(list)
    for step in repo.list_steps(conn, investigation_id, "gather"):
        if step.kind != StepKind.QUERY or not step.detail:
            continue
        evidence = Evidence.model_validate(step.detail)
        if evidence.kind in FILES and evidence.status != EvidenceStatus.ERROR:
            found[evidence.kind].append(evidence)
    return found


def log_fields(found: list[Evidence], config: TriageConfig | None) -> dict[str, str]:
    """The files_logs field names that read these rows back: the original connector's
    timestamp and message fields (Elasticsearch documents carry `@timestamp`)."""
    raw = (config.connectors if config else {}).get(found[0].connector, {})
    fields = {key: str(raw[key]) for key in ("timestamp_field", "message_field")
              if isinstance(raw.get(key), str) and "." not in raw[key]}
    rows = [r for e in found for r in e.rows]
    if "timestamp_field" not in fields and rows and all("@timestamp" in r and "timestamp" not in r
                                                         for r in rows):
        fields["timestamp_field"] = "@timestamp"
    return fields


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows read by several queries once each, ordered by their timestamp."""
    seen = {json.dumps(r, sort_keys=True, default=str): r for r in rows}
    return sorted(seen.values(), key=lambda r: str(
        r.get("timestamp", r.get("@timestamp", r.get("deployed_at", "")))))


def write_logs(path: Path, found: list[Evidence]) -> None:
    rows = _unique([r for e in found for r in e.rows])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _write_metrics(path: Path, found: list[Evidence]) -> None:
    rows = _unique([r for e in found for r in e.rows])
    labels = sorted({k for r in rows for k in r} - {"timestamp", "metric", "value"})
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, ["timestamp", "metric", "value", *labels])
        writer.writeheader()
        writer.writerows(rows)


def _write_deploys(path: Path, found: list[Evidence]) -> None:
    rows = _unique([r for e in found for r in e.rows])
    path.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


def _service(service: ServiceConfig | None, name: str | None, labels: dict[str, str],
             connectors: dict[str, dict[str, Any]], config: TriageConfig | None,
             out: Path, kinds: set[str]) -> dict[str, Any]:
    """The service's configuration on the bundle's files (a service matching the alert's
    labels when the configuration no longer has it)."""
    if service is None:
        entry: dict[str, Any] = {"name": name or "unmapped", "match": {"labels": labels}}
    else:
        entry = service.model_dump(mode="json", exclude_defaults=True, exclude=DROPPED)
        # Queries of kinds the bundle has no file for (databases) would only fail on replay.
        entry["queries"] = [q for q in entry.get("queries", []) if q["kind"] in kinds]
        if not entry["queries"]:
            del entry["queries"]
        if service.repository and config is not None:
            source = Path(repository_source(service.repository, config.base_dir))
            if source.is_file():  # a git bundle travels with the scenario
                shutil.copyfile(source, out / "repo.bundle")
                entry["repository"] = "repo.bundle"
            else:  # a URL or a clone on this machine: referenced
                entry["repository"] = str(source) if source.exists() else service.repository
    entry["connectors"] = sorted(connectors)
    return entry


def expectations(said: dict[str, Any], report: Report | None) -> dict[str, Any]:
    """What a replay must conclude, from one feedback row (and the verdict it judged)."""
    if said["verdict"] == "right":
        if report is None:
            raise ExportError("the verdict was confirmed but the investigation has no report")
        concluded = conclusion_of(report)
        if concluded.predicted == ABSTAIN:
            return {"abstains": True, "blames_commit": False}
        found: dict[str, Any] = {"top_category": concluded.predicted}
        culprit = report.fix.culprit.sha if report.fix and report.fix.culprit else None
        top = report.findings.hypotheses[0] if report.findings else None
        if culprit or (top and top.suspect_commit):
            found["culprit_commit"] = culprit or (top.suspect_commit if top else None)
        elif not concluded.blamed_commit:
            found["blames_commit"] = False
        return found
    category = said["category"]
    if category in (ABSTAIN, FALSE_ALARM):
        return {"abstains": True, "blames_commit": False}
    wrong: dict[str, Any] = {"top_category": category}
    if said.get("culprit"):
        wrong["culprit_commit"] = said["culprit"]
    elif category not in COMMIT_CATEGORIES:
        wrong["blames_commit"] = False
    return wrong
