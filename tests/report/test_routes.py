"""Report pages and the investigations API over a finished demo investigation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DEMO, make_settings
from triage.app import create_app
from triage.config import Settings, parse_config
from triage.runtime import Runtime
from triage.scenarios import load_scenario, run_scenario


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    tmp = tmp_path_factory.mktemp("report")
    workdir = tmp / "demo"
    _, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=workdir)
    settings: Settings = make_settings(tmp, data_dir=workdir)
    config = parse_config(load_scenario(DEMO).config, workdir, "demo")
    runtime = Runtime.from_settings(settings, config)
    with TestClient(create_app(runtime)) as client:
        yield client, outcome.investigation_id
    runtime.close()


def test_html_report_shows_alert_findings_and_every_query(finished: tuple[TestClient, str]) -> None:
    client, investigation_id = finished
    response = client.get(f"/reports/{investigation_id}")
    assert response.status_code == 200
    page = response.text
    assert "Checkout 5xx error rate above 5% for 5 minutes" in page
    assert "[bad-deploy]" in page
    assert "service=checkout level!=info level!=debug" in page  # the query exactly as run
    assert 'id="step-' in page and "<details" in page


def test_markdown_report(finished: tuple[TestClient, str]) -> None:
    client, investigation_id = finished
    response = client.get(f"/reports/{investigation_id}.md")
    assert response.status_code == 200
    assert response.text.startswith("# Triage report: Checkout 5xx")
    assert "## Queries, exactly as run" in response.text


def test_api_lists_and_returns_investigations(finished: tuple[TestClient, str]) -> None:
    client, investigation_id = finished
    listing = client.get("/api/investigations").json()["investigations"]
    assert [row["id"] for row in listing] == [investigation_id]
    assert listing[0]["report_url"].endswith(f"/reports/{investigation_id}")
    detail = client.get(f"/api/investigations/{investigation_id}").json()
    assert detail["state"] == "completed"
    assert detail["findings"]["hypotheses"][0]["category"] == "bad-deploy"
    step = detail["steps"][1]
    data = client.get(step["data_url"].replace("http://triage.test", "")).json()
    assert data["id"] == step["id"]
    assert data["detail"]["query"] == step["arguments"]["query"]


def test_unknown_ids_are_404(finished: tuple[TestClient, str]) -> None:
    client, investigation_id = finished
    assert client.get("/reports/inv_nope").status_code == 404
    assert client.get("/api/investigations/inv_nope").status_code == 404
    missing = client.get(f"/api/investigations/{investigation_id}/steps/nope")
    assert missing.status_code == 404
    assert client.get("/api/investigations?limit=0").status_code == 422


def test_queued_investigation_has_a_live_page(client: TestClient, tmp_path: Path) -> None:
    from tests.conftest import compact, pd_headers, sample

    body = compact(sample("pagerduty/incident_triggered.json"))
    answer = client.post("/webhooks/pagerduty", content=body, headers=pd_headers(body)).json()
    page = client.get(f"/reports/{answer['results'][0]['investigation_id']}").text
    assert 'id="state">queued' in page
    assert 'http-equiv="refresh"' in page


def test_html_report_escapes_what_came_from_alerts_and_logs(tmp_path: Path) -> None:
    from tests.conftest import compact, sample
    from triage.config import TriageConfig
    from triage.models import Source
    from triage.replay import replay

    payload = sample("pagerduty/incident_triggered.json")
    payload["event"]["data"]["title"] = "<script>alert('x')</script> & <num>"
    outcome = replay(make_settings(tmp_path), TriageConfig(), Source.PAGERDUTY, compact(payload))
    page = outcome.html_path.read_text()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;num&gt;" in page
