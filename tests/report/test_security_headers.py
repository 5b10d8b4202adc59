"""Every response carries the security headers; every HTML page a CSP that runs nothing inline;
report templates render only http(s) and relative links; the API docs sit behind API auth."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import CHECKOUT_CONFIG, compact, make_settings, sample
from triage.app import create_app
from triage.config import parse_config
from triage.report.safety import BLOCKED_URL, content_security_policy, safe_url
from triage.runtime import Runtime

TOKEN = "api-token-for-docs-9c1"
KEY = "k" * 48


def _runtime(tmp: Path, **settings: object) -> Runtime:
    return Runtime.from_settings(make_settings(tmp, **settings), parse_config(CHECKOUT_CONFIG, tmp, "t"))


@pytest.fixture
def open_client(tmp_path: Path) -> Iterator[TestClient]:
    runtime = _runtime(tmp_path)
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


@pytest.fixture
def locked_client(tmp_path: Path) -> Iterator[TestClient]:
    runtime = _runtime(tmp_path, api_token=SecretStr(TOKEN), report_signing_keys=[SecretStr(KEY)])
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def _investigation(client: TestClient) -> str:
    body = copy.deepcopy(sample("alertmanager/firing.json"))
    body["alerts"][0]["generatorURL"] = "javascript:alert(document.domain)"
    response = client.post("/webhooks/alertmanager", content=compact(body))
    assert response.status_code == 202
    return str(response.json()["results"][0]["investigation_id"])


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JAVASCRIPT:alert(1)", "java\nscript:alert(1)", "\x01javascript:x",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "",
])
def test_unsafe_urls_become_an_inert_anchor(url: str) -> None:
    assert safe_url(url) == BLOCKED_URL


@pytest.mark.parametrize("url", ["https://grafana.example/d/x?a=1", "HTTP://prom:9090/graph",
                                 "/reports/abc", "../static/report.js", "#step-1", "?t=x"])
def test_http_https_and_relative_urls_are_kept(url: str) -> None:
    assert safe_url(url) == url


def test_every_response_has_the_headers_and_html_a_strict_policy(open_client: TestClient) -> None:
    investigation = _investigation(open_client)
    pages = {path: open_client.get(path) for path in (
        f"/reports/{investigation}", f"/reports/{investigation}.md", "/api/investigations",
        "/healthz", "/docs", "/redoc", "/openapi.json", "/static/report.js", "/nowhere")}
    for path, response in pages.items():
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        policy = response.headers["content-security-policy"]
        script = re.search(r"script-src ([^;]*)", policy)
        assert "default-src 'none'" in policy and script is not None, path
        assert "'unsafe-inline'" not in script.group(1) and "'unsafe-eval'" not in script.group(1), path
        assert "frame-ancestors 'none'" in policy, path
    report = pages[f"/reports/{investigation}"]
    assert report.headers["content-security-policy"] == content_security_policy()
    assert "<script>" not in report.text and 'src="../static/report.js"' in report.text
    assert 'href="javascript:' not in report.text and f'href="{BLOCKED_URL}"' in report.text
    assert pages["/static/report.js"].headers["content-type"].startswith("text/javascript")
    # the inline stylesheet is exactly the one the policy's hash allows
    style = re.search(r"<style>(.*?)</style>", report.text, re.S)
    assert style is not None and style.group(1) == open_client.get("/static/report.css").text


def test_the_refusal_page_has_the_policy_too(locked_client: TestClient) -> None:
    investigation = _investigation(locked_client)
    page = locked_client.get(f"/reports/{investigation}")
    assert page.status_code == 403
    assert page.headers["content-security-policy"] == content_security_policy()


def test_docs_need_api_credentials_when_the_api_has_them(locked_client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert locked_client.get(path).status_code == 401, path
        wrong = locked_client.get(path, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401, path
        right = locked_client.get(path, headers={"authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200, path
    spec = locked_client.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert "/api/investigations" in spec["paths"]


def test_docs_are_open_without_api_credentials(open_client: TestClient) -> None:
    docs = open_client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    assert "'sha256-" in docs.headers["content-security-policy"]
    assert open_client.get("/openapi.json").status_code == 200
