"""Stored XSS, clicked in real Chromium (Debian `chromium` through Playwright, never a downloaded
browser): `javascript:` URLs planted through the webhooks (PagerDuty `html_url`, Alertmanager
`generatorURL` / `runbook_url` / `externalURL`) and through evidence deep links and pull request
links never run when clicked, and the page's CSP blocks a `javascript:` link even if one got in."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from tests.conftest import CHECKOUT_CONFIG, compact, make_settings, pd_headers, sample
from tests.report.browser import CHROMIUM, chromium, loopback_socket, serving
from triage import repository as repo
from triage.config import parse_config
from triage.fix.records import FixSection, PublishRecord, PullRequestInfo, ReproRecord
from triage.report.build import ReportStep, build_report
from triage.report.render import render_markdown
from triage.runtime import Runtime

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
AM_TOKEN = "am-token-for-the-xss-test"
# Each sets the title to its own name when it runs (`void`: the page stays); browsers ignore
# tabs and newlines inside a scheme.
PLANTED = {
    "PagerDuty incident": "javascript:void(document.title='PWNED-pd')",
    "Prometheus expression": "javascript:void(document.title='PWNED-generator')",
    "Runbook": " JaVaScRiPt:void(document.title='PWNED-runbook')",
    "Alertmanager": "java\tscript:void(document.title='PWNED-external')",
    "open in backend": "javascript:void(document.title='PWNED-evidence')",
    "#7": "data:text/html,<script>opener.document.title='PWNED-pr'</script>",
}

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package")]


def _alertmanager_body() -> bytes:
    body = copy.deepcopy(sample("alertmanager/firing.json"))
    body["externalURL"] = PLANTED["Alertmanager"]
    first = body["alerts"][0]
    first["generatorURL"] = PLANTED["Prometheus expression"]
    first["annotations"]["runbook_url"] = PLANTED["Runbook"]
    body["alerts"] = [first]
    return compact(body)


def _pagerduty_body() -> bytes:
    body = copy.deepcopy(sample("pagerduty/incident_triggered.json"))
    body["event"]["data"]["html_url"] = PLANTED["PagerDuty incident"]
    return compact(body)


def _plant_step_and_pull_request(runtime: Runtime, investigation_id: str) -> None:
    """A stored report whose evidence step links to the backend and whose fix has a PR link."""
    with runtime.store.transaction() as conn:
        report = build_report(conn, investigation_id, runtime.settings.public_url, runtime.redactor)
        step = ReportStep(id=f"{investigation_id}:gather:9", stage="gather", kind="query",
                          name="error_logs on logs", status="ok", started_at=report.created_at,
                          duration_ms=1.0, summary="3 rows", arguments={},
                          link=PLANTED["open in backend"], data_url="/unused")
        pull = PullRequestInfo(number=7, url=PLANTED["#7"], state="open", draft=True,
                               action="created")
        fix = FixSection(repro=ReproRecord(status="skipped", reason="no repro command"),
                         publish=PublishRecord(status="published", reason="draft opened",
                                               mode="github", pull_request=pull))
        report = report.model_copy(update={"steps": [*report.steps, step], "fix": fix})
        repo.save_report(conn, investigation_id, report.model_dump(mode="json"),
                         render_markdown(report))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """Real uvicorn with the planted alerts; yields (base URL, investigation ids)."""
    import httpx

    tmp = tmp_path_factory.mktemp("xss")
    sock, base = loopback_socket()
    settings = make_settings(tmp, public_url=base, alertmanager_open=False,
                             alertmanager_bearer_token=SecretStr(AM_TOKEN))
    runtime = Runtime.from_settings(settings, parse_config(CHECKOUT_CONFIG, tmp, "xss"))
    try:
        with serving(runtime, sock):
            am = httpx.post(f"{base}/webhooks/alertmanager", content=_alertmanager_body(),
                            headers={"authorization": f"Bearer {AM_TOKEN}"})
            pd_body = _pagerduty_body()
            pd = httpx.post(f"{base}/webhooks/pagerduty", content=pd_body,
                            headers=pd_headers(pd_body))
            assert am.status_code == pd.status_code == 202, (am.text, pd.text)
            ids = [am.json()["results"][0]["investigation_id"],
                   pd.json()["results"][0]["investigation_id"]]
            _plant_step_and_pull_request(runtime, ids[0])
            yield base, ids
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(sync_api) as launched:
        yield launched


def _click_every_planted_link(page: object, names: list[str], *, exact: bool = True) -> list[str]:
    """Click each link named in `names`; the page title after each click."""
    clicked = []
    for name in names:
        link = page.get_by_role("link", name=name, exact=exact)  # type: ignore[attr-defined]
        assert link.count() == 1, name
        href = str(link.get_attribute("href"))
        assert "script" not in href.lower() and not href.startswith("data:"), (name, href)
        link.click()
        page.wait_for_load_state()  # type: ignore[attr-defined]
        clicked.append(page.title())  # type: ignore[attr-defined]
    return clicked


def test_the_click_check_sees_a_javascript_link_run(browser: object) -> None:
    # The control: without our rendering, the same click does set the title.
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_content(f'<title>t</title><a href="{PLANTED["Prometheus expression"]}">x</a>')
    page.get_by_role("link", name="x").click()
    page.wait_for_function("document.title.startsWith('PWNED')")
    page.close()


def test_planted_urls_never_run_when_clicked(served: tuple[str, list[str]], browser: object) -> None:
    base, (am_id, pd_id) = served
    page = browser.new_page()  # type: ignore[attr-defined]
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    response = page.goto(f"{base}/reports/{am_id}")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    names = ["Prometheus expression", "Runbook", "Alertmanager", "open in backend", "#7"]
    page.locator("details").last.locator("summary").click()  # the planted step's links
    titles = _click_every_planted_link(page, names)
    assert all(not title.startswith("PWNED") for title in titles), titles
    # the page's own stylesheet and script are allowed: nothing was refused
    assert violations == []
    assert page.locator("body").evaluate("e => getComputedStyle(e).maxWidth") == "1120px"

    response = page.goto(f"{base}/reports/{pd_id}")
    assert response is not None and response.status == 200
    titles = _click_every_planted_link(page, ["PagerDuty incident"], exact=False)
    assert all(not title.startswith("PWNED") for title in titles), titles
    assert violations == []
    page.close()


def test_the_policy_blocks_a_javascript_link_that_got_in(served: tuple[str, list[str]],
                                                         browser: object) -> None:
    base, (am_id, _) = served
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{base}/reports/{am_id}")
    page.evaluate("""() => { const a = document.createElement('a'); a.id = 'planted';
        a.href = "javascript:void(document.title='PWNED-csp')"; a.textContent = 'planted';
        document.body.appendChild(a); }""")
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text) as refused:
        page.locator("#planted").click()
    assert "script-src" in refused.value.text
    assert not page.title().startswith("PWNED")
    page.close()
