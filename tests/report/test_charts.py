"""Report charts: derived from what the analysis stored (the same counts the signals quote), drawn
as SVG with no script and with the onset, alert and deploy markers, omitted (never fatal) when
they cannot be drawn; reports stored before charts still render."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from connectors import Evidence, EvidenceKind, EvidenceStatus
from tests.analysis.test_drilldown import ONSET, eur_checkout, rows_of
from tests.conftest import DEMO, make_settings
from triage import repository as repo
from triage.analysis.attribution import attribution_signals
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.app import create_app
from triage.config import parse_config
from triage.models import StepRecord
from triage.report.build import Report, build_report, stage_times
from triage.report.charts import chart_png, chart_svg, rendered
from triage.report.charts_data import report_charts
from triage.report.charts_model import MAX_CHARTS, Bar, BarChart, SeriesChart, describe
from triage.report.links import LinkSigner
from triage.report.render import render_html, render_markdown
from triage.runtime import Runtime
from triage.scenarios import load_scenario, run_scenario

KEY = "c" * 48
SVG = "{http://www.w3.org/2000/svg}"


def _xml(text: str | bytes) -> ET.Element:
    """Parse an SVG this code drew (no entities, no DTD fetch: stdlib's parser is fine here)."""
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, str]]:
    """The finished demo investigation (a bad deploy) and a runtime over its store."""
    tmp = tmp_path_factory.mktemp("charts")
    _, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=tmp / "demo")
    runtime = Runtime.from_settings(
        make_settings(tmp, data_dir=tmp / "demo", report_signing_keys=[SecretStr(KEY)]),
        parse_config(load_scenario(DEMO).config, tmp / "demo", "demo"))
    yield runtime, outcome.investigation_id
    runtime.close()


def _stored(runtime: Runtime, inv: str) -> tuple[list[StepRecord], Report]:
    with runtime.store.read() as conn:
        steps = repo.list_steps(conn, inv)
        stored = repo.get_report(conn, inv)
    assert stored is not None
    return steps, Report.model_validate(stored["body"])


def _signals(steps: list[StepRecord]) -> tuple[list[dict[str, object]], dict[str, object]]:
    analysis = next(s for s in steps if s.name == "signals")
    return analysis.detail["signals"], analysis.detail["onset"]


def test_charts_show_what_the_signals_say(demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    steps, report = _stored(runtime, inv)
    signals, onset = _signals(steps)
    series = [c for c in report.charts if isinstance(c, SeriesChart)]
    kinds = {str(s["kind"]) for s in signals}
    assert {"error_spike", "metric_shift", "new_errors"} <= kinds
    # one chart per moved series: the error lines, the metric that shifted, the new template
    shifted = next(s for s in signals if s["kind"] == "metric_shift")
    assert shifted["detail"]["series"] in [c.title for c in series]  # type: ignore[index]
    assert any(c.title.startswith("Error lines") for c in series)
    new = next(s for s in signals if s["kind"] == "new_errors")
    template = new["detail"]["templates"][0]  # type: ignore[index]
    chart = next(c for c in series if c.title.startswith("New error"))
    # the per-minute counts add up to what the analyzer counted for that template
    at = datetime.fromisoformat(str(onset["at"]))
    assert sum(v for t, v in zip(chart.times, chart.values, strict=True) if t >= at) \
        == template["count"]
    assert sum(v for t, v in zip(chart.times, chart.values, strict=True) if t < at) \
        == template["baseline_count"]
    for c in series:
        kinds_at = {(m.kind, m.at) for m in c.markers}
        assert ("onset", at) in kinds_at
        assert ("alert", datetime.fromisoformat(report.alert["started_at"])) in kinds_at
        assert any(m.kind == "deploy" for m in c.markers)
        assert c.band is not None and c.band.low <= c.band.median <= c.band.high


def test_the_svg_has_no_script_and_marks_onset_alert_and_deploys(
        demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    _, report = _stored(runtime, inv)
    for chart in report.charts:
        svg = chart_svg(chart)
        root = _xml(svg)
        tags = {element.tag.removeprefix(SVG) for element in root.iter()}
        assert "script" not in tags and "foreignObject" not in tags
        assert not [name for element in root.iter() for name in element.attrib
                    if name.lower().startswith("on")]
        assert "<script" not in svg.lower() and "javascript:" not in svg.lower()
        ids = {str(element.get("id")) for element in root.iter() if element.get("id")}
        assert {"marker-onset", "marker-alert", "baseline-band"} <= ids
        assert any(i.startswith("marker-deploy-") for i in ids)
        assert root.get("viewBox") is not None
        # text stays text: the legend names the onset and the deploy's commit
        texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
        deploy = next(m for m in chart.markers if m.kind == "deploy")  # type: ignore[union-attr]
        assert "onset" in texts and deploy.label in texts


def test_a_drilldown_becomes_the_last_chart_and_charts_stay_bounded(
        demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    steps, report = _stored(runtime, inv)
    rows = rows_of(eur_checkout)
    evidence = Evidence(connector="logs", kind=EvidenceKind.LOGS, status=EvidenceStatus.OK,
                        query="*", start=ONSET - timedelta(hours=1),
                        end=ONSET + timedelta(minutes=15), rows=rows, row_count=len(rows))
    found = attribution_signals(CitedEvidence("x:gather:9", evidence),
                                AnalysisWindow(evidence.start, ONSET, evidence.end))
    assert found and found[0].detail["value"] == "EUR"
    analysis = next(s for s in steps if s.name == "signals")
    # many moved series and a drill-down: still at most MAX_CHARTS, the drill-down kept last
    signals = analysis.detail["signals"] * 4 + [f.model_dump(mode="json") for f in found]
    more = [analysis.model_copy(update={"detail": {**analysis.detail, "signals": signals}})
            if s is analysis else s for s in steps]
    charts = report_charts(more, datetime.fromisoformat(report.alert["started_at"]))
    assert len(charts) == MAX_CHARTS and isinstance(charts[-1], BarChart)
    bars = charts[-1].bars
    assert bars[0].label == "query.currency=EUR"
    assert (bars[0].first, bars[0].second) == (found[0].detail["anomaly_share"],
                                               found[0].detail["traffic_share"])
    assert "query.currency=EUR: 100% of errors" in describe(charts[-1])


def test_chart_data_that_cannot_be_derived_leaves_the_report_without_charts(
        demo: tuple[Runtime, str], caplog: pytest.LogCaptureFixture) -> None:
    runtime, inv = demo
    steps, report = _stored(runtime, inv)
    analysis = next(s for s in steps if s.name == "signals")
    garbled = analysis.model_copy(update={"detail": {**analysis.detail,
                                                     "onset": {"at": "yesterday-ish"}}})
    started = datetime.fromisoformat(report.alert["started_at"])
    assert report_charts([garbled if s is analysis else s for s in steps], started) == []
    assert "chart data of" in caplog.text


def test_a_drilldown_draws_paired_bars() -> None:
    chart = BarChart(title="What the failing traffic shares", first_label="of errors",
                     second_label="of traffic",
                     bars=[Bar(label="currency=EUR", first=1.0, second=0.31)])
    root = _xml(chart_svg(chart))
    ids = {element.get("id") for element in root.iter()}
    assert {"bars-first", "bars-second"} <= ids
    assert "currency=EUR" in " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert chart_png(chart).startswith(b"\x89PNG\r\n\x1a\n")


def test_a_chart_that_cannot_be_drawn_is_left_out(demo: tuple[Runtime, str],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    runtime, inv = demo
    _, report = _stored(runtime, inv)
    # more points than a stored chart may hold: it fails validation when drawn
    many = report.charts[0].times * 200  # type: ignore[union-attr]
    broken = SeriesChart.model_construct(title="broken", unit="x", times=many,
                                         values=[1.0] * len(many), band=None, markers=[],
                                         type="series")
    shown = rendered([broken, *report.charts])
    assert [r.chart for r in shown] == report.charts
    assert "broken" in caplog.text
    page = render_html(report.model_copy(update={"charts": [broken]}))
    assert 'id="charts"' not in page and "<h1>" in page


def test_the_page_shows_charts_as_images_the_csp_allows(demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    _, report = _stored(runtime, inv)
    page = render_html(report)
    uris = [part.split('"', 1)[0] for part in page.split('<img src="')[1:]]
    assert len(uris) == len(report.charts) > 0
    for uri in uris:
        assert uri.startswith("data:image/svg+xml;base64,")  # img-src 'self' data:
        _xml(base64.b64decode(uri.split(",", 1)[1]))
    assert "<script>" not in page  # still no inline script


def test_a_report_stored_before_charts_still_renders(demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    _, report = _stored(runtime, inv)
    old = report.model_dump(mode="json")
    del old["charts"], old["stages"]
    old["timeline"].append({"at": old["created_at"], "source": "investigation",
                            "what": "Stage report started (did not finish) on w1"})
    legacy = Report.model_validate(old)
    page = render_html(legacy)
    assert 'id="charts"' not in page
    incident = page.split('id="incident-timeline"')[1].split("</table>")[0]
    stages = page.split('id="stage-timeline"')[1].split("</table>")[0]
    assert "Stage report" not in incident and "Stage report" in stages
    assert "Stage report" in render_markdown(legacy).split("## Stages of this run")[1]


def test_the_stage_timeline_is_apart_and_the_report_stage_is_in_progress(
        demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    _, report = _stored(runtime, inv)
    assert [st.stage for st in report.stages][:2] == ["gather", "analyze"]
    assert all(e.source != "investigation" for e in report.timeline)
    written = report.stages[-1]
    assert written.stage == "report" and written.status.startswith("in progress")
    assert "did not finish" not in render_html(report)
    with runtime.store.read() as conn:  # built now, every stage has finished
        live = build_report(conn, inv, runtime.settings.public_url, runtime.redactor)
    assert {st.status for st in live.stages} == {"finished"}
    runs = [{"stage": "gather", "worker_id": "w1", "started_at": report.created_at,
             "finished_at": None},
            {"stage": "gather", "worker_id": "w2", "started_at": report.created_at,
             "finished_at": report.created_at},
            {"stage": "brain", "worker_id": "w2", "started_at": report.created_at,
             "finished_at": None}]
    assert [s.status for s in stage_times(runs, "running")] == ["re-run", "finished", "running"]
    assert [s.status for s in stage_times(runs, "failed")][2] == "did not finish"
    assert report_charts([], report.created_at) == []


def test_the_headline_png_opens_like_the_report(demo: tuple[Runtime, str]) -> None:
    runtime, inv = demo
    t = LinkSigner([SecretStr(KEY)], runtime.settings.report_link_ttl).token(inv)
    with TestClient(create_app(runtime)) as client:
        ok = client.get(f"/reports/{inv}/chart.png?t={t}")
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        assert ok.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert client.get(f"/reports/{inv}/chart.png").status_code == 403  # unsigned
        assert client.get(f"/reports/{inv}/chart.png?t={t[:-2]}xx").status_code == 403
        other = "inv_" + "0" * 20
        assert client.get(f"/reports/{other}/chart.png?t={t}").status_code == 403


def test_matplotlib_needs_no_writable_home(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPLCONFIGDIR", "XDG_"))}
    home = tmp_path / "home"
    home.write_text("a file: nothing can be created under it, not even by root")
    env["HOME"] = str(home)
    script = ("import os; from triage.report.charts_model import Bar, BarChart; "
              "from triage.report.charts import chart_svg; "
              "chart_svg(BarChart(title='t', first_label='a', second_label='b', "
              "bars=[Bar(label='x', first=1, second=0)])); print(os.environ['MPLCONFIGDIR'])")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], env=env,
                          capture_output=True, text=True, check=False, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert f"triage-matplotlib-{os.getuid()}" in done.stdout
    assert "Matplotlib created a temporary cache directory" not in done.stderr
