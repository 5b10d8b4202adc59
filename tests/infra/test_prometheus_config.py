"""infra/prometheus and infra/alertmanager: valid for the real tools (promtool, amtool), the example
rules fire as their unit tests say, route as documented, and pick the playbooks they claim."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.infra.processes import ROOT, require
from triage.intake.alertmanager import AlertmanagerAlert, AlertmanagerWebhook, normalize
from triage.models import AlertStatus
from triage.playbook import PlaybookLibrary

PROMETHEUS = ROOT / "infra" / "prometheus"
ALERTMANAGER = ROOT / "infra" / "alertmanager" / "alertmanager.yml"
# What the header of rules/services.yml promises: alert -> the built-in playbook its title selects.
PLAYBOOK_OF = {"HighErrorRate": "high-error-rate", "LatencyP99High": "latency-regression",
               "CrashLooping": "crash-loop-oom", "DatabaseConnectionsSaturated": "database-saturation",
               "QueueBacklogGrowing": "backlog-disk"}


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_prometheus_config_and_rules_pass_promtool() -> None:
    promtool = require("promtool", "prometheus")
    out = _run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert "2 rule files found" in out
    _run(promtool, "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml"))))


def test_example_rules_fire_as_their_unit_tests_expect() -> None:
    promtool = require("promtool", "prometheus")
    assert "SUCCESS" in _run(promtool, "test", "rules", str(PROMETHEUS / "rules_test.yml"))


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    promtool = require("promtool", "prometheus")
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: Oops\n        expr: rate(x[5m]\n")
    done = subprocess.run([promtool, "check", "rules", str(bad)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode != 0


def test_alertmanager_config_passes_amtool() -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    out = _run(amtool, "check-config", str(ALERTMANAGER))
    assert "SUCCESS" in out


@pytest.mark.parametrize(("labels", "receiver"), [
    (["alertname=HighErrorRate", "service=checkout", "severity=critical"], "triage"),
    (["alertname=CrashLooping", "service=orders"], "triage"),
    (["alertname=TriageApiDown", "service=triage"], "oncall"),  # never triage about itself
])
def test_alerts_route_to_triage_except_triages_own(labels: list[str], receiver: str) -> None:
    amtool = require("amtool", "prometheus-alertmanager")
    out = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert out.split() == [receiver]


def test_the_triage_receiver_posts_to_the_webhook_with_a_bearer_token_file() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receiver = next(r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    webhook = receiver["webhook_configs"][0]
    assert webhook["url"].endswith("/webhooks/alertmanager")
    assert webhook["send_resolved"] is True  # resolved notifications mark the alert resolved
    auth = webhook["http_config"]["authorization"]
    assert auth == {"type": "Bearer",
                    "credentials_file": "/run/secrets/triage_alertmanager_bearer_token"}


@pytest.mark.parametrize("rule", yaml.safe_load(
    (PROMETHEUS / "rules" / "services.yml").read_text())["groups"][0]["rules"],
    ids=lambda rule: rule["alert"])
def test_each_example_rule_selects_the_playbook_it_is_written_for(rule: dict[str, Any]) -> None:
    labels = {"alertname": rule["alert"], "service": "checkout", **rule["labels"]}
    # Alertmanager sends the rendered template: stand in for every {{ ... }} with a value.
    summary = re.sub(r"\{\{.*?\}\}", "42", rule["annotations"]["summary"])
    alert = AlertmanagerAlert(status=AlertStatus.FIRING, labels=labels,
                              annotations={"summary": summary},
                              startsAt=datetime(2026, 1, 1, tzinfo=UTC), fingerprint="f")
    webhook = AlertmanagerWebhook(version="4", status=AlertStatus.FIRING, alerts=[alert])
    chosen = PlaybookLibrary([]).select(normalize(alert, webhook))
    assert chosen.name == PLAYBOOK_OF[rule["alert"]]
    assert labels["severity"] in {"critical", "warning"}


def test_triage_self_alerts_use_metrics_the_api_exports(client: TestClient) -> None:
    exported = {line.split()[2] for line in client.get("/metrics").text.splitlines()
                if line.startswith("# TYPE ")}
    exported |= {f"{name}_total" for name in exported}  # counters are queried by sample name
    rules = (PROMETHEUS / "rules" / "triage.yml").read_text()
    used = set(re.findall(r"\btriage_[a-z_]+", rules))
    assert used, "the self-monitoring rules query triage's own metrics"
    assert used <= exported, used - exported
