"""Alertmanager -> triage, end to end, with the real binaries (Debian `prometheus` and
`prometheus-alertmanager`): an exporter's error ratio crosses a rule's threshold, Prometheus fires,
Alertmanager delivers to `triage serve` (a real uvicorn subprocess) with the bearer token, and an
investigation runs to its report; then the ratio drops and the resolved notification marks the
alert resolved. Alertmanager runs the shipped infra/alertmanager/alertmanager.yml, with only the
address, the token file and the timings changed for a test.

Run alone: `make e2e` (or `python -m pytest tests/infra/test_alertmanager_e2e.py`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from connectors import CONNECTOR_TYPES
from tests.infra.processes import ROOT, Processes, free_port, http_ok, processes, require

pytestmark = pytest.mark.slow

TOKEN = "am-bearer-e2e-5f1c"
TIME_LIMIT_S = 60.0  # from the rule's first chance to fire to the resolved alert in the store
RULES = """
groups:
  - name: checkout
    interval: 250ms
    rules:
      - alert: CheckoutHighErrorRate
        expr: checkout_http_error_ratio > 0.05
        for: 0s
        labels: {severity: critical}
        annotations:
          summary: "checkout 5xx error rate is {{ $value | humanizePercentage }}"
"""


@contextmanager
def error_ratio_exporter() -> Iterator[tuple[int, Gauge]]:
    """A prometheus-client exporter with one gauge the test moves."""
    registry = CollectorRegistry()
    gauge = Gauge("checkout_http_error_ratio", "Share of 5xx responses", registry=registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield server.server_port, gauge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _alertmanager_config(triage_url: str, token_file: Path) -> dict[str, Any]:
    """The shipped configuration, pointed at this test's triage and token, with short timers."""
    config: dict[str, Any] = yaml.safe_load((ROOT / "infra/alertmanager/alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    receiver = next(r for r in config["receivers"] if r["name"] == config["route"]["receiver"])
    webhook = receiver["webhook_configs"][0]
    assert webhook["url"].endswith("/webhooks/alertmanager")
    assert webhook["http_config"]["authorization"]["type"] == "Bearer"
    webhook["url"] = f"{triage_url}/webhooks/alertmanager"
    webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


def _triage_config(prometheus_url: str) -> dict[str, Any]:
    """One service, `checkout`, reading metrics from this test's Prometheus when the connector
    exists in this build."""
    service: dict[str, Any] = {"name": "checkout", "connectors": []}
    config: dict[str, Any] = {"services": [service], "connectors": {}}
    if "prometheus" in CONNECTOR_TYPES:
        service["connectors"].append("metrics")
        config["connectors"]["metrics"] = {"type": "prometheus", "url": prometheus_url,
                                           "default_step_seconds": 1}
    return config


def _start_triage(group: Processes, root: Path, port: int, prometheus_url: str) -> str:
    (root / "triage.yaml").write_text(yaml.safe_dump(_triage_config(prometheus_url)))
    group.start_triage("triage", ["serve", "--host", "127.0.0.1", "--port", str(port)], {
        "TRIAGE_DATA_DIR": str(root / "data"), "TRIAGE_CONFIG": str(root / "triage.yaml"),
        "TRIAGE_ALERTMANAGER_BEARER_TOKEN": TOKEN})
    return f"http://127.0.0.1:{port}"


def _start_alertmanager(group: Processes, root: Path, port: int, triage_url: str) -> str:
    binary = require("prometheus-alertmanager", "prometheus-alertmanager")
    (root / "token").write_text(TOKEN + "\n")
    (root / "alertmanager.yml").write_text(
        yaml.safe_dump(_alertmanager_config(triage_url, root / "token")))
    group.start("alertmanager", [
        binary, f"--config.file={root / 'alertmanager.yml'}", f"--storage.path={root / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",  # no gossip port
        "--log.level=debug"])
    return f"http://127.0.0.1:{port}"


def _start_prometheus(group: Processes, root: Path, port: int, exporter_port: int,
                      alertmanager_url: str) -> str:
    binary = require("prometheus", "prometheus")
    (root / "rules.yml").write_text(RULES)
    (root / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "250ms", "evaluation_interval": "250ms"},
        "rule_files": [str(root / "rules.yml")],
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}]},
        "scrape_configs": [{"job_name": "checkout", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter_port}"], "labels": {"service": "checkout"}}]}],
    }))
    group.start("prometheus", [
        binary, f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"])
    return f"http://127.0.0.1:{port}"


def _investigations(triage_url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = httpx.get(f"{triage_url}/api/investigations",
                                           timeout=5).json()["investigations"]
    return rows


def _completed(triage_url: str) -> dict[str, Any] | None:
    rows = _investigations(triage_url)
    return rows[0] if rows and rows[0]["state"] in ("completed", "failed") else None


def _webhook_notifications(alertmanager_url: str) -> tuple[float, float]:
    """Alertmanager's own count of webhook notifications sent and failed."""
    text = httpx.get(f"{alertmanager_url}/metrics", timeout=5).text

    def total(name: str) -> float:
        pattern = rf'^{name}{{[^}}]*integration="webhook"[^}}]*}} (\S+)$'
        return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))

    return total("alertmanager_notifications_total"), total("alertmanager_notifications_failed_total")


def test_a_firing_prometheus_rule_becomes_an_investigation_and_a_report(tmp_path: Path) -> None:
    triage_port, alertmanager_port, prometheus_port = free_port(), free_port(), free_port()
    with error_ratio_exporter() as (exporter_port, ratio), processes(tmp_path) as group:
        ratio.set(0.3)  # above the rule's 5%: fires on Prometheus's first evaluation
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        triage_url = _start_triage(group, tmp_path, triage_port, prometheus_url)
        alertmanager_url = _start_alertmanager(group, tmp_path, alertmanager_port, triage_url)
        startup = time.monotonic() + 60
        group.wait_for("triage /healthz", lambda: http_ok(f"{triage_url}/healthz"), startup)
        group.wait_for("alertmanager ready", lambda: http_ok(f"{alertmanager_url}/-/ready"), startup)
        _start_prometheus(group, tmp_path, prometheus_port, exporter_port, alertmanager_url)
        group.wait_for("prometheus ready", lambda: http_ok(f"{prometheus_url}/-/ready"), startup)

        deadline = time.monotonic() + TIME_LIMIT_S
        row = group.wait_for("a finished investigation", lambda: _completed(triage_url), deadline)
        assert row["state"] == "completed", group.logs()
        assert row["source"] == "alertmanager"
        assert row["service"] == "checkout"
        assert row["title"] == "CheckoutHighErrorRate: checkout 5xx error rate is 30%"

        report = httpx.get(f"{triage_url}/api/investigations/{row['id']}", timeout=5).json()
        assert report["playbook"] == "high-error-rate"  # chosen by the rule's summary
        assert report["alert"]["labels"]["severity"] == "critical"
        assert report["findings"] is not None
        if "prometheus" in CONNECTOR_TYPES:  # the investigation read the same Prometheus back
            metrics = next(s for s in report["steps"] if s["name"] == "service_metrics on metrics")
            assert metrics["status"] == "ok", metrics
            assert metrics["row_count"] > 0
        page = httpx.get(f"{triage_url}/reports/{row['id']}", timeout=5)
        assert page.status_code == 200
        assert "CheckoutHighErrorRate" in page.text
        markdown = httpx.get(f"{triage_url}/reports/{row['id']}.md", timeout=5).text
        assert "checkout 5xx error rate is 30%" in markdown

        ratio.set(0.0)  # the rule resolves; Alertmanager sends the resolved notification
        group.wait_for("the resolved notification",
                       lambda: _investigations(triage_url)[0]["alert_status"] == "resolved", deadline)
        sent, failed = _webhook_notifications(alertmanager_url)
        assert sent >= 2, group.logs()  # firing, then resolved
        assert failed == 0, group.logs()  # the bearer token was accepted every time
        assert len(_investigations(triage_url)) == 1  # re-notifications started nothing new
