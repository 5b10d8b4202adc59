"""The report's charts in real headless Chromium at phone width (390 CSS px): every chart loads
under the page's strict CSP, draws something, fits the screen, and its smallest text is still
legible. The screenshot goes to $TRIAGE_TEST_ARTEFACTS (or the test's tmp_path)."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from pydantic import SecretStr

from tests.report.browser import CHROMIUM, artefacts, chromium, served_demo
from triage.report.links import LinkSigner

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
KEY = "d" * 48
PHONE = {"width": 390, "height": 844}
MIN_TEXT_PX = 9.0  # the smallest chart text, as shown, in CSS pixels

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium package")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A finished demo investigation behind real uvicorn: (base URL, investigation id)."""
    with served_demo(tmp_path_factory.mktemp("browser-charts"), KEY) as found:
        yield found


def _smallest_text_px(data_uri: str, shown_width: float) -> float:
    """The smallest font size in the SVG, scaled as the image is shown (viewBox to CSS px)."""
    svg = base64.b64decode(data_uri.split(",", 1)[1]).decode()
    view_box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', svg)
    sizes = [float(size) for size in re.findall(r"font-size: ([\d.]+)px", svg)]
    assert view_box is not None and sizes
    return min(sizes) * shown_width / float(view_box[1])


def test_charts_are_visible_and_legible_at_phone_width(served: tuple[str, str],
                                                        tmp_path: Path) -> None:
    base, inv = served
    token = LinkSigner([SecretStr(KEY)], timedelta(days=1)).token(inv)
    with chromium(sync_api) as browser:
        page = browser.new_page(viewport=PHONE)  # type: ignore[attr-defined]
        refused: list[str] = []
        page.on("console", lambda message: refused.append(message.text)
                if "Content Security Policy" in message.text else None)
        response = page.goto(f"{base}/reports/{inv}?t={token}")
        assert response is not None and response.status == 200
        charts = page.locator("#charts img")
        count = charts.count()
        assert count >= 3  # error lines, the new error template, the metric that moved
        page.wait_for_function(
            "() => [...document.querySelectorAll('#charts img')]"
            ".every(i => i.complete && i.naturalWidth > 0)")
        for index in range(count):
            chart = charts.nth(index)
            chart.scroll_into_view_if_needed()
            assert chart.is_visible()
            box = chart.bounding_box()
            assert box is not None
            # fills the phone's column without running off the screen
            assert box["width"] >= 300 and box["x"] >= 0 and box["x"] + box["width"] <= 390
            assert box["height"] > 150
            assert str(chart.get_attribute("alt"))
            shown = _smallest_text_px(str(chart.get_attribute("src")), box["width"])
            assert shown >= MIN_TEXT_PX, f"chart {index}: text shown at {shown:.1f}px"
            # it drew something: lines and text, not a blank or broken image
            pixels = Image.open(io.BytesIO(chart.screenshot())).convert("L")
            dark = sum(pixels.histogram()[:160])
            assert dark > 0.01 * pixels.width * pixels.height
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e => "
            "e.getBoundingClientRect().right > 391).map(e => e.tagName + '#' + e.id + '.' + "
            "e.className + ' ' + Math.round(e.getBoundingClientRect().right))")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide[:8]
        assert refused == []
        page.locator("#charts").scroll_into_view_if_needed()
        page.screenshot(path=str(artefacts(tmp_path) / "report-charts-390.png"), full_page=True)
        page.close()
