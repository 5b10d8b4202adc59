"""The HTML report in real headless Chromium (Debian `chromium`, driven by Playwright), served by
real uvicorn on a loopback port: it renders, evidence sections expand, links work. A screenshot
is kept in test-artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.report.browser import CHROMIUM, artefacts, chromium, served_demo
from triage.report.links import LinkSigner

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
KEY = "b" * 48

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A finished demo investigation behind real uvicorn: (base URL, investigation id)."""
    with served_demo(tmp_path_factory.mktemp("browser"), KEY) as found:
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium(sync_api) as launched:
        yield launched


def test_the_report_renders_expands_and_its_links_work(served: tuple[str, str], browser: object,
                                                       tmp_path: Path) -> None:
    base, inv = served
    token = LinkSigner([SecretStr(KEY)], timedelta(days=1)).token(inv)
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    response = page.goto(f"{base}/reports/{inv}?t={token}")
    assert response is not None and response.status == 200
    assert page.title().startswith("Triage: Checkout 5xx")
    assert page.locator("#state").inner_text() == "completed"
    assert "[bad-deploy]" in page.locator("#hypothesis-1 h3").inner_text()

    # an evidence section expands on click, and closes again
    section = page.locator("details").first
    assert section.evaluate("e => e.open") is False
    section.locator("summary").click()
    assert section.evaluate("e => e.open") is True
    section.locator("summary").click()
    assert section.evaluate("e => e.open") is False

    # a hypothesis' evidence link opens the step it cites and brings it into view
    evidence = page.locator('#hypothesis-1 a[href^="#step-"]').first
    anchor = str(evidence.get_attribute("href"))  # "#step-<investigation>-gather-<n>"
    target = page.locator(anchor)
    assert target.evaluate("e => e.open") is False
    evidence.click()
    page.wait_for_function("id => document.getElementById(id).open", arg=anchor[1:])
    assert target.evaluate("e => { const r = e.getBoundingClientRect();"
                           " return r.top >= 0 && r.top < window.innerHeight; }")
    page.screenshot(path=str(artefacts(tmp_path) / "report.png"), full_page=True)

    # its full-data link answers 200 with the step, through the page's own token
    data = target.get_by_text("full data (JSON)")
    with page.expect_response(lambda r: "/steps/" in r.url) as answer:
        data.click()
    assert answer.value.status == 200
    step_id = f"{inv}:" + anchor.removeprefix(f"#step-{inv}-").replace("-", ":")
    assert answer.value.json()["id"] == step_id
    page.close()


def test_an_unsigned_link_shows_the_403_page(served: tuple[str, str], browser: object,
                                             tmp_path: Path) -> None:
    base, inv = served
    page = browser.new_page()  # type: ignore[attr-defined]
    response = page.goto(f"{base}/reports/{inv}")
    assert response is not None and response.status == 403
    assert page.locator("h1").inner_text() == "This report link is not signed"
    page.screenshot(path=str(artefacts(tmp_path) / "report-403.png"))
    page.close()


def test_chromium_is_the_system_browser() -> None:
    assert shutil.which("chromium") == str(CHROMIUM)
