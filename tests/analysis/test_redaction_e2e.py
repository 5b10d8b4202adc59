"""End to end: the planted-secrets corpus in a scenario's alert, logs, metric labels, database rows
and deploys; after a full investigation nothing planted is left in the stored steps, the report
(JSON, Markdown, HTML, API), the brain's input or the logs."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from tests.analysis.leaks import partial_leaks
from tests.analysis.redaction_corpus import PLANTS, every_secret
from tests.conftest import DEMO, make_settings
from triage.app import create_app
from triage.config import parse_config
from triage.replay import ReplayOutcome
from triage.runtime import Runtime
from triage.scenarios import run_scenario
from triage.store import investigations, reports, steps
from triage.workflow import _context

INCIDENT_MINUTES = [f"2026-11-20T13:{41 + i % 13:02d}:{i % 60:02d}Z" for i in range(len(PLANTS))]


def _sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _plant(bundle: Path) -> None:
    """Hide every planted text in the demo bundle's alert, logs, metrics, database and deploys."""
    texts = [p.text for p in PLANTS]
    body = json.loads((bundle / "alert.json").read_text())
    incident = body["event"]["data"]
    incident["title"] += " | " + " | ".join(texts[::3])
    incident["service"]["summary"] = " | ".join(texts[1::3])
    incident["priority"] = {"id": "P1", "type": "priority", "summary": " | ".join(texts[2::3])}
    incident["html_url"] = "https://oncall:Pd-Url-Pass-77@acme.pagerduty.com/incidents/Q1CHK0UT42"
    (bundle / "alert.json").write_text(json.dumps(body))

    with (bundle / "logs.jsonl").open("a", encoding="utf-8") as logs:
        for at, plant in zip(INCIDENT_MINUTES, PLANTS, strict=True):
            logs.write(json.dumps({"timestamp": at, "service": "checkout", "level": "error",
                                   "message": f"checkout failed: {plant.text}", "host": "checkout-1",
                                   "detail": plant.text,
                                   "headers": {"Authorization": f"Token {plant.secrets[0]}"}}) + "\n")

    rows = list(csv.DictReader(io.StringIO((bundle / "metrics.csv").read_text())))
    rows += [{"timestamp": at, "metric": "checkout_customer_errors", "value": "1",
              "service": "checkout", "customer": plant.text}
             for at, plant in zip(INCIDENT_MINUTES, PLANTS, strict=True)]
    out = io.StringIO()
    writer = csv.DictWriter(out, ["timestamp", "metric", "value", "service", "customer"], restval="")
    writer.writeheader()
    writer.writerows(rows)
    (bundle / "metrics.csv").write_text(out.getvalue())

    inserts = "".join(f"INSERT INTO customers VALUES ({i}, {_sql(p.text)}, {_sql(p.secrets[0])});\n"
                      for i, p in enumerate(PLANTS))
    with (bundle / "db.sql").open("a", encoding="utf-8") as sql:
        sql.write("CREATE TABLE customers (id INTEGER PRIMARY KEY, note TEXT, api_key TEXT);\n" + inserts)

    deploys = json.loads((bundle / "deploys.json").read_text())
    deploys += [{"id": f"dep-10{43 + n}", "service": "checkout", "commit": f"{n:x}c0ffee" * 5,
                 "deployed_at": f"2026-11-20T13:{30 - n:02d}:00Z", "author": "ann.lee@acme-corp.example",
                 "description": " | ".join(texts[at:at + 20]), "files": ["config/secrets.yaml"]}
                for n, at in enumerate(range(0, len(texts), 20))]
    (bundle / "deploys.json").write_text(json.dumps(deploys))

    scenario = yaml.safe_load((bundle / "scenario.yaml").read_text())
    scenario["config"]["services"][0]["queries"].append(
        {"id": "customer_rows", "kind": "database", "query": "SELECT * FROM customers", "limit": 500})
    (bundle / "scenario.yaml").write_text(yaml.safe_dump(scenario))


@dataclass
class Investigated:
    """A finished investigation over the planted bundle, and a runtime on its store."""

    outcome: ReplayOutcome
    runtime: Runtime
    log_text: str


@pytest.fixture(scope="module")
def investigated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Investigated]:
    """Run the planted scenario once for every test in this module."""
    root = tmp_path_factory.mktemp("planted")
    bundle = root / "bundle"
    shutil.copytree(DEMO, bundle)
    _plant(bundle)
    handler = _Capture()
    logging.getLogger().addHandler(handler)
    try:
        scenario, outcome = run_scenario(bundle, make_settings(root), keep_dir=root / "run")
    finally:
        logging.getLogger().removeHandler(handler)
    workdir = root / "run"
    config = parse_config(scenario.config, workdir, "planted")
    runtime = Runtime.from_settings(make_settings(root, data_dir=workdir), config)
    yield Investigated(outcome, runtime, handler.text())
    runtime.close()


class _Capture(logging.Handler):
    """Keeps every record logged while the scenario runs (all levels, every logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the formatted record, traceback included."""
        self.lines.append(logging.Formatter().format(record))

    def text(self) -> str:
        """Everything captured."""
        return "\n".join(self.lines)


def _leaks(document: str) -> list[str]:
    """Planted values found in `document`, whole or in part, raw or JSON / HTML escaped."""
    return partial_leaks(document, every_secret())


def _table_text(runtime: Runtime, table: sa.Table) -> str:
    with runtime.store.read() as conn:
        return "\n".join(json.dumps(dict(row._mapping), default=str)
                         for row in conn.execute(sa.select(table)))


def test_the_planted_investigation_completed_and_saw_the_plants(investigated: Investigated) -> None:
    assert investigated.outcome.report.state == "completed", investigated.outcome.report.error
    stored = _table_text(investigated.runtime, steps)
    queried = {q.name.rsplit(" on ", 1)[1] for q in investigated.outcome.report.queries
               if q.status == "ok"}
    assert queried == {"logs", "metrics", "orders_db", "deploys"}
    missing = sorted({p.kind for p in PLANTS if f"[redacted:{p.kind}]" not in stored})
    assert missing == []
    assert '"detail": "[redacted:' in stored  # the log field placement reached the store
    assert "[redacted:" in investigated.outcome.report.alert["title"]


def test_no_leak_in_the_stored_steps(investigated: Investigated) -> None:
    assert _leaks(_table_text(investigated.runtime, steps)) == []


def test_no_leak_in_the_stored_report_and_investigation(investigated: Investigated) -> None:
    assert _leaks(_table_text(investigated.runtime, reports)) == []
    assert _leaks(_table_text(investigated.runtime, investigations)) == []


def test_no_leak_in_the_report_json_markdown_and_html(investigated: Investigated) -> None:
    outcome = investigated.outcome
    assert _leaks(outcome.report.model_dump_json()) == []
    assert _leaks(outcome.markdown_path.read_text()) == []
    assert _leaks(outcome.html_path.read_text()) == []


def test_no_leak_in_the_brains_input(investigated: Investigated) -> None:
    context = _context(investigated.runtime, investigated.outcome.investigation_id, with_signals=True)
    assert context.evidence and context.signals
    document = json.dumps({
        "alert": context.alert.model_dump(mode="json"), "service": context.service,
        "playbook": context.playbook,
        "evidence": [c.evidence.model_dump(mode="json") for c in context.evidence],
        "signals": [s.model_dump(mode="json") for s in context.signals]})
    assert _leaks(document) == []
    assert "[redacted:" in context.alert.title


def test_no_leak_through_the_api(investigated: Investigated) -> None:
    investigation_id = investigated.outcome.investigation_id
    with TestClient(create_app(investigated.runtime)) as api:
        pages = [api.get("/api/investigations"), api.get(f"/api/investigations/{investigation_id}"),
                 api.get(f"/reports/{investigation_id}"), api.get(f"/reports/{investigation_id}.md")]
        pages += [api.get(f"/api/investigations/{investigation_id}/steps/{step.id}")
                  for step in investigated.outcome.report.steps]
    assert all(page.status_code == 200 for page in pages)
    assert _leaks("\n".join(page.text for page in pages)) == []


def test_no_leak_in_the_logs(investigated: Investigated) -> None:
    assert _leaks(investigated.log_text) == []
