"""Template mining: generic masking, grouping, bounded memory, and the baseline/incident diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.loghub import find_data_sets, grouping_accuracy
from connectors import Evidence, EvidenceKind, EvidenceStatus
from triage.analysis.logs import new_error_templates
from triage.analysis.masking import mask_message
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.analysis.templates import MinerConfig, TemplateMiner, TemplateWindows

T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
WINDOW = AnalysisWindow(start=T0, onset=T0 + timedelta(minutes=45), end=T0 + timedelta(minutes=60))
LOGHUB = Path(__file__).resolve().parents[3] / "shared" / "data" / "loghub-2k"


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


@pytest.mark.parametrize(("message", "masked"), [
    ("GET /api/cart/90817 200 in 407ms", "GET <PATH> <NUM> in <DUR>"),
    ("instance b9000564-fe1a-409b-b8cc-1e88b294cd1d resumed", "instance <UUID> resumed"),
    ("from 10.0.0.7:5432 and 10.1.1.1,10.1.1.2", "from <IP> and <IP>"),
    ("POST https://pay.example/v2/charge?id=7 failed", "POST https://pay.example<PATH> failed"),
    ("flags=0x1f seq 54fadb412c4e40cdbaed9335e4c35a9e", "flags=<HEX> seq <HEX>"),
    ("took 1.5s then 1h30m, delta -24.0", "took <DUR> then <DUR>, delta <NUM>"),
    ("block blk_-1608999687919862906 on attempt_1445144423722_0020_m_000002_0",
     "block <ID> on <ID>"),
    ("loaded C:\\Windows\\winsxs\\cbscore.dll", "loaded <PATH>"),
    ("tag='AudioMix' name=\"PowerManagerService.WakeLocks\"", "tag=<STR> name=<STR>"),
    ('10.0.0.1 "GET /v2/servers HTTP/1.1" status: 200', '<IP> "GET <PATH> HTTP/<NUM>" status: <NUM>'),
    ("session opened for user root", "session opened for user root"),
])
def test_generic_masks(message: str, masked: str) -> None:
    assert mask_message(message) == masked


def test_variants_of_one_message_share_a_template_and_different_words_do_not() -> None:
    miner = TemplateMiner()
    a = miner.add("user 12 logged in from 10.0.0.1 after 35ms")
    b = miner.add("user 981 logged in from 10.9.8.7 after 2s")
    started = miner.add("[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Started (Lifecycle Event)")
    paused = miner.add("[instance: 96abccce-8d1f-4e07-b6d1-4b2ab87e23b4] VM Paused (Lifecycle Event)")
    assert a == b
    assert miner.template(a) == "user <NUM> logged in from <IP> after <DUR>"
    assert started != paused


def test_values_of_different_shapes_in_one_place_are_one_parameter() -> None:
    miner = TemplateMiner()
    ip = miner.add("synchronized to 10.100.20.250, stratum 3")
    local = miner.add("synchronized to LOCAL(0), stratum 10")
    assert ip == local
    assert miner.template(ip) == "synchronized to <*> stratum <NUM>"


def test_a_template_of_wildcards_only_never_swallows_other_messages() -> None:
    miner = TemplateMiner()
    ids = {miner.add(line) for line in ("a=1", "b=2", "setLightsOn(true)", "c:3")}
    assert len(ids) == 4


def test_clusters_are_bounded_and_evictions_reported() -> None:
    evicted: list[int] = []
    miner = TemplateMiner(MinerConfig(max_clusters=20), on_evict=evicted.append)
    ids = [miner.add(f"job alpha{chr(97 + i % 26)}{chr(97 + i // 26)} finished stage {i}")
           for i in range(500)]
    assert miner.cluster_count == 20
    assert miner.evicted == len(evicted) == 480
    assert miner.template(ids[0]) is None
    assert miner.template(ids[-1]) is not None


def test_window_stats_are_bounded_with_the_clusters() -> None:
    windows = TemplateWindows(WINDOW, config=MinerConfig(max_clusters=10))
    for i in range(300):
        windows.add(at(50), f"worker zz{chr(97 + i % 26)}{chr(97 + i // 26)} crashed code {i}")
    diff = windows.diff()
    assert len(diff.top) == diff.templates == 10
    assert diff.evicted == 290


def steady(windows: TemplateWindows, per_minute: float, make: str, start: float = 0, end: float = 60) -> None:
    count = int((end - start) * per_minute)
    for i in range(count):
        windows.add(at(start + i / per_minute), make.format(i=i))


def test_new_and_risen_templates_with_counts_first_last_seen_and_samples() -> None:
    windows = TemplateWindows(WINDOW, samples=2)
    steady(windows, 10, "GET /api/cart/{i} 200 in 12ms")
    steady(windows, 0.2, "redis timeout after {i}ms on GET session", end=45)
    steady(windows, 4, "redis timeout after {i}ms on GET session", start=45)
    steady(windows, 2, "TypeError: unsupported operand for order={i}", start=50, end=55)
    diff = windows.diff()

    assert [c.template for c in diff.new] == ["TypeError: unsupported operand for order=<NUM>"]
    new = diff.new[0]
    assert new.incident_count == 10
    assert new.baseline_count == 0
    assert new.ratio is None
    assert (new.first_seen, new.last_seen) == (at(50), at(54.5))
    assert new.samples == ("TypeError: unsupported operand for order=0",
                           "TypeError: unsupported operand for order=1")

    assert [c.template for c in diff.risen] == ["redis timeout after <DUR> on GET session"]
    risen = diff.risen[0]
    assert (risen.baseline_count, risen.incident_count) == (9, 60)
    assert risen.ratio == pytest.approx(20.0)
    assert diff.top[0].template == "GET <PATH> <NUM> in <DUR>"
    assert (diff.baseline_lines, diff.incident_lines) == (450 + 9, 150 + 60 + 10)


def test_a_rise_on_too_little_data_is_not_reported() -> None:
    windows = TemplateWindows(WINDOW)
    windows.add(at(10), "cache warmed for tenant 7")
    for minute in (50, 51, 52):
        windows.add(at(minute), "cache warmed for tenant 8")
    assert windows.diff().risen == []  # 1 → 3 lines: 9x the rate, but no evidence


def test_samples_are_redacted_before_they_are_clipped() -> None:
    secret = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace(secret, "[redacted]")

    windows = TemplateWindows(WINDOW, samples=2, max_sample_chars=40, redact=redact)
    for i in range(50):
        windows.add(at(50), f"charge {i} failed for key={secret} retry")
    sample = windows.diff().new[0].samples
    assert sample == ("charge 0 failed for key=[redacted] retry", "charge 1 failed for key=[redacted] retry")
    assert all(secret in text for text in seen)  # the redactor saw whole lines, never a clipped one
    assert len(seen) == 50  # every line, before masking and mining could cut a secret up
    assert secret not in windows.diff().new[0].template


TYPE_ERROR = "TypeError: unsupported operand type(s)"


def test_new_error_templates_signal_keeps_its_shape_and_adds_risen() -> None:
    rows = [{"timestamp": at(m).isoformat(), "level": "error", "message": f"payment gateway slow: took {m}ms"}
            for m in range(0, 45, 5)]
    rows += [{"timestamp": at(45 + m / 4).isoformat(), "level": "error",
              "message": f"payment gateway slow: took {m}ms"} for m in range(60)]
    rows += [{"timestamp": at(46 + m / 10).isoformat(), "level": "error",
              "message": f"{TYPE_ERROR} for +: 'decimal.Decimal' and 'float' order={m}"} for m in range(12)]
    rows += [{"timestamp": at(47).isoformat(), "level": "info", "message": "new but not an error 1"}]
    evidence = Evidence(connector="logs", kind=EvidenceKind.LOGS, status=EvidenceStatus.OK, query="*",
                        start=WINDOW.start, end=WINDOW.end, rows=rows)
    signal = new_error_templates(CitedEvidence("s1", evidence), WINDOW)
    assert signal is not None
    # the real line, not only its template: the operand types are the point
    assert signal.title.startswith(f"1 new error message(s); most frequent ×12: \"{TYPE_ERROR} for +: "
                                   "'decimal.Decimal' and 'float'")
    assert signal.detail["shapes"] == {"code": round(12 / 72, 3)}
    assert signal.onset == at(46)
    [template] = signal.detail["templates"]
    assert template["template"] == "TypeError: unsupported operand type(s) for +: <STR> and <STR> order=<NUM>"
    assert template["count"] == 12
    assert template["first_seen"] == at(46).isoformat()
    assert template["sample"].startswith("TypeError: unsupported operand type(s) for +: 'decimal.Decimal'")
    [risen] = signal.detail["risen"]
    assert risen["template"] == "payment gateway slow: took <DUR>"
    assert (risen["baseline_count"], risen["count"]) == (9, 60)


def test_grouping_accuracy_is_the_loghub_definition() -> None:
    truth = ["a", "a", "b", "b", "c"]
    assert grouping_accuracy(truth, [1, 1, 2, 2, 3]) == 1.0
    assert grouping_accuracy(truth, [1, 1, 2, 2, 2]) == 0.4  # b and c merged: only the a lines count
    assert grouping_accuracy(truth, [1, 9, 2, 2, 3]) == 0.6  # a split: neither a line counts


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="shared loghub-2k data not present")
def test_one_configuration_beats_the_reference_average_on_loghub() -> None:
    data_sets = find_data_sets(LOGHUB)
    scores = {}
    for data in data_sets:
        miner = TemplateMiner()
        scores[data.name] = grouping_accuracy(data.truth, [miner.add(line) for line in data.contents])
    # Reference Drain with its published per-set settings averages 0.890 on these ten sets.
    assert sum(scores.values()) / len(scores) >= 0.93, scores
