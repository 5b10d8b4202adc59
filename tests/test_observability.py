"""/metrics after real activity (webhooks, an investigation run by an in-process worker), the
metrics API other parts record with, and /readyz."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import compact, make_settings, pd_headers, sample, staged_demo
from triage.app import create_app
from triage.config import TriageConfig
from triage.playbook import PlaybookLibrary
from triage.runtime import Runtime
from triage.store import Store, investigations, schema_version
from triage.workflow import STAGES


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def _wait_completed(runtime: Runtime, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.store.read() as conn:
            states = set(conn.execute(sa.select(investigations.c.state)).scalars())
        if states == {"completed"}:
            return
        time.sleep(0.05)
    raise AssertionError(f"investigations still {states}")


def test_metrics_count_webhooks_investigations_and_stages(tmp_path: Path) -> None:
    workdir, config = staged_demo(tmp_path)
    runtime = Runtime.from_settings(make_settings(tmp_path, max_body_bytes=4096 * 16), config)
    body = (workdir / "alert.json").read_bytes()
    with TestClient(create_app(runtime, run_worker=True)) as client:
        assert client.post("/webhooks/pagerduty", content=body,
                           headers=pd_headers(body)).status_code == 202
        assert client.post("/webhooks/pagerduty", content=body,
                           headers=pd_headers(body, secret="wrong")).status_code == 401
        assert client.post("/webhooks/pagerduty", content=b"{",
                           headers=pd_headers(b"{")).status_code == 400
        huge = b"x" * (4096 * 16 + 1)
        assert client.post("/webhooks/pagerduty", content=huge,
                           headers=pd_headers(huge)).status_code == 413
        assert client.post("/webhooks/datadog", json={}).status_code == 401
        assert client.post("/webhooks/nagios", json={}).status_code == 404
        _wait_completed(runtime)
        seen = scrape(client)
    runtime.close()
    assert seen[("triage_webhooks_received_total", (("source", "pagerduty"),))] == 4
    for reason, count in (("unauthorized", 1), ("malformed", 1), ("too_large", 1)):
        key = ("triage_webhooks_rejected_total", (("reason", reason), ("source", "pagerduty")))
        assert seen[key] == count
    assert seen[("triage_webhooks_rejected_total",
                 (("reason", "unauthorized"), ("source", "datadog")))] == 1
    assert seen[("triage_webhooks_rejected_total",
                 (("reason", "unknown_route"), ("source", "unknown")))] == 1
    assert seen[("triage_investigations", (("state", "completed"),))] == 1
    assert seen[("triage_investigations", (("state", "queued"),))] == 0
    assert seen[("triage_store_up", ())] == 1
    for stage in STAGES:
        assert seen[("triage_stage_duration_seconds_count", (("stage", stage),))] == 1
        assert seen[("triage_stage_duration_seconds_sum", (("stage", stage),))] > 0
    assert seen[("triage_notes_total", (("kind", "first"), ("outcome", "skipped")))] == 1


def test_model_and_sandbox_usage_recorded_through_the_api_is_exposed(
        client: TestClient, runtime: Runtime) -> None:
    metrics = runtime.metrics
    metrics.record_model_usage("claude-sonnet-4-6", input_tokens=1200, output_tokens=300,
                               cache_read_tokens=900, cost_usd=0.0081)
    metrics.record_model_usage("claude-sonnet-4-6", input_tokens=100, cost_usd=0.0003)
    metrics.record_model_call("claude-sonnet-4-6", "overloaded")
    with metrics.time_sandbox("local", "exec"):
        time.sleep(0.01)
    with pytest.raises(RuntimeError), metrics.time_sandbox("local", "repro"):
        raise RuntimeError("the sandbox broke")  # still timed
    with pytest.raises(ValueError, match="input tokens cannot be negative"):
        metrics.record_model_usage("m", input_tokens=-1)
    seen = scrape(client)
    model = (("model", "claude-sonnet-4-6"),)
    assert seen[("triage_model_tokens_total", (("kind", "input"), *model))] == 1300
    assert seen[("triage_model_tokens_total", (("kind", "output"), *model))] == 300
    assert seen[("triage_model_tokens_total", (("kind", "cache_read"), *model))] == 900
    assert ("triage_model_tokens_total", (("kind", "cache_write"), *model)) not in seen
    assert seen[("triage_model_cost_usd_total", model)] == pytest.approx(0.0084)
    assert seen[("triage_model_calls_total", (*model, ("outcome", "overloaded")))] == 1
    timed = seen[("triage_sandbox_duration_seconds_sum", (("action", "exec"),
                                                          ("backend", "local")))]
    assert timed >= 0.01
    assert seen[("triage_sandbox_duration_seconds_count", (("action", "repro"),
                                                           ("backend", "local")))] == 1


def test_each_runtime_has_its_own_registry(tmp_path: Path, runtime: Runtime) -> None:
    other = Runtime.from_settings(make_settings(tmp_path / "other"), TriageConfig())
    runtime.metrics.record_webhook("pagerduty", 202)
    with TestClient(create_app(other)) as client:
        seen = scrape(client)
    other.close()
    assert ("triage_webhooks_received_total", (("source", "pagerduty"),)) not in seen


def test_readyz_checks_store_schema_and_worker(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(make_settings(tmp_path), TriageConfig())
    with TestClient(create_app(runtime)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["worker"] == {
            "ok": True, "detail": "not configured (API only; workers run elsewhere)"}
        client.app.state.run_worker = True  # type: ignore[attr-defined]  # expected, not running
        assert client.get("/readyz").json()["checks"]["worker"] == {
            "ok": False, "detail": "not running (not launched, or stopped)"}
        client.app.state.run_worker = False  # type: ignore[attr-defined]
        with runtime.store.transaction() as conn:
            conn.execute(schema_version.update().values(version=1))
        stale = client.get("/readyz")
        assert stale.status_code == 503
        assert stale.json()["status"] == "not ready"
        assert stale.json()["checks"]["schema"]["detail"].startswith("version 1, this build needs")
        assert client.get("/healthz").status_code == 200  # alive all the same
    runtime.close()
    with TestClient(create_app(Runtime.from_settings(make_settings(tmp_path),
                                                     TriageConfig()), run_worker=True)) as client:
        worker = client.get("/readyz").json()["checks"]["worker"]
        assert worker["ok"] and worker["detail"].startswith("running (")


def test_readyz_says_when_the_store_is_unreachable(tmp_path: Path) -> None:
    runtime = Runtime(make_settings(tmp_path), TriageConfig(),
                      Store("postgresql://triage@127.0.0.1:1/triage"), PlaybookLibrary([]))
    with TestClient(create_app(runtime)) as client:
        answer = client.get("/readyz")
        seen = scrape(client)
    assert answer.status_code == 503
    assert answer.json()["checks"]["store"]["detail"].startswith("unreachable: ")
    assert seen[("triage_store_up", ())] == 0


def test_metrics_name_no_alert_or_investigation(client: TestClient) -> None:
    body = compact(sample("pagerduty/incident_triggered.json"))
    client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body))
    text = client.get("/metrics").text
    assert "inv_" not in text and "PGR0VU2" not in text  # bounded labels only
