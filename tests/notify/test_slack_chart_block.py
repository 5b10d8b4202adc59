"""The final Slack reply's chart: the report's headline chart as an image block, within Slack's
limits (a URL of at most 3,000 characters, alt text of at most 2,000, 50 blocks a message)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triage.notify.slack_blocks import ALT_LIMIT, MAX_BLOCKS, chart_block, reply_blocks
from triage.report.build import Report
from triage.report.charts_model import Band, Marker, SeriesChart

URL = "https://triage.example/reports/inv_1/chart.png?t=1.sig"
AT = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


def _report(charts: list[SeriesChart]) -> Report:
    return Report(investigation_id="inv_1", state="completed", brain="rules", service="checkout",
                  playbook=None, created_at=AT, finished_at=AT, error=None, summary="s",
                  alert={}, findings=None, signals=[], timeline=[], steps=[],
                  report_url="https://triage.example/reports/inv_1", charts=charts)


def _chart(title: str) -> SeriesChart:
    times = [AT + timedelta(minutes=i) for i in range(60)]
    return SeriesChart(title=title, unit="lines/min", times=times,
                       values=[float(i % 7) for i in range(60)],
                       band=Band(low=0, high=2, median=1),
                       markers=[Marker(at=AT + timedelta(minutes=40), kind="onset", label="onset"),
                                Marker(at=AT + timedelta(minutes=50), kind="alert", label="alert"),
                                Marker(at=AT + timedelta(minutes=39), kind="deploy",
                                       label="6457c33")])


def test_the_headline_chart_becomes_an_image_block_with_alt_text() -> None:
    block = chart_block(_report([_chart("Error lines (logs)"), _chart("second")]), URL)
    assert block is not None and block["type"] == "image" and block["image_url"] == URL
    assert "Error lines (logs)" in block["alt_text"] and "onset" in block["alt_text"]
    assert "6457c33" in block["alt_text"] and len(block["alt_text"]) <= ALT_LIMIT
    blocks = reply_blocks("line\n" * 5000, "https://triage.example/r", "inv_1", image=block)
    assert len(blocks) <= MAX_BLOCKS and blocks[-2] == block and blocks[-1]["type"] == "actions"


def test_no_chart_or_a_url_over_the_limit_means_no_image_block() -> None:
    assert chart_block(_report([]), URL) is None
    assert chart_block(_report([_chart("x")]), "https://t/" + "a" * 3000) is None
    long = chart_block(_report([_chart("y" * 200)]), URL)
    assert long is not None and len(long["title"]["text"]) <= 150
    assert reply_blocks("body", "https://triage.example/r", "inv_1")[-1]["type"] == "actions"
