"""Compaction for brains: bounded summaries that keep every new and risen template."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from triage.analysis.compaction import (
    LogLine,
    change_point,
    compact_logs,
    estimate_tokens,
    lines_from_rows,
)
from triage.analysis.signals import AnalysisWindow

T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
WINDOW = AnalysisWindow(start=T0, onset=T0 + timedelta(minutes=45), end=T0 + timedelta(minutes=60))


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def background(per_minute: int = 20) -> list[LogLine]:
    lines = []
    for i in range(60 * per_minute):
        minute = i / per_minute
        lines.append(LogLine(at(minute), f"GET /api/cart/{i} 200 in {i % 700}ms", "info"))
        # 2/min in the baseline, 12/min in the incident window
        if i % 10 == 0 or (minute >= 45 and i % 2):
            lines.append(LogLine(at(minute), f"retrying request to inventory-svc attempt={i % 3}", "warning"))
    return lines


def noise(count: int) -> list[LogLine]:
    """Rare info templates first seen in the incident window: the long tail a summary must cut."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    return [LogLine(at(46 + i / count), f"{words[i % 10]} {words[i // 10 % 10]} {words[i // 100 % 10]} "
                    f"rotated for {i}", "info") for i in range(count)]


def section(summary: str, name: str) -> str:
    match = re.search(rf"^{name} .*?(?=^(?:NEW|RISEN|TOP) |\Z)", summary, re.S | re.M)
    return match.group(0) if match else ""


def test_estimate_pays_for_marks_letters_and_digits_and_never_less_than_chars_over_four() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 400) == 100
    assert estimate_tokens("x=<NUM>, y=<NUM>") == 11  # x = < NUM > , y = < NUM >
    assert estimate_tokens("order 1234567") == 2 + 3  # letters by 4, digits by 3
    assert estimate_tokens("b9000564-fe1a-409b-b8cc-1e88b294cd1d") == 24  # ids are cut finely


def test_summary_shows_new_risen_and_top_templates_with_samples() -> None:
    lines = background()
    lines += [LogLine(at(50 + i / 10), f"TypeError: unsupported operand order={i}", "error")
              for i in range(30)]
    summary = compact_logs(sorted(lines, key=lambda line: line.timestamp), WINDOW)
    new, risen, top = section(summary, "NEW"), section(summary, "RISEN"), section(summary, "TOP")
    assert "- ERROR ×30 first 13:50:00 last 13:52:54: TypeError: unsupported operand order=<NUM>" in new
    assert "  e.g. TypeError: unsupported operand order=0" in new
    assert "WARN" in risen
    assert "retrying request to inventory-svc attempt=<NUM>" in risen
    assert "GET <PATH> <NUM> in <DUR>" in top
    assert summary.startswith("logs 2026-11-20 13:00–14:00 UTC, onset 13:45: baseline ")
    assert "change point: error-level volume" in summary


@pytest.mark.parametrize("budget", [40, 150, 400, 2000])
def test_budget_is_respected_and_what_is_cut_is_counted(budget: int) -> None:
    lines = background() + noise(500)
    lines += [LogLine(at(50), "disk full on /var/lib/data", "error")] * 3
    summary = compact_logs(sorted(lines, key=lambda line: line.timestamp), WINDOW, budget_tokens=budget)
    assert estimate_tokens(summary) <= budget
    if budget >= 400:
        assert re.search(r"^  \+\d+ more$", summary, re.M)
        # Errors first: three lines of a new error outrank hundreds of new info templates.
        assert "ERROR ×3 first 13:50:00 last 13:50:00: disk full on <PATH>" in section(summary, "NEW")


def test_a_long_tail_of_new_templates_does_not_crowd_out_the_risen_ones() -> None:
    lines = background() + noise(800)
    summary = compact_logs(sorted(lines, key=lambda line: line.timestamp), WINDOW, budget_tokens=500)
    assert "retrying request to inventory-svc" in section(summary, "RISEN")


def test_samples_in_the_summary_pass_through_the_redact_hook() -> None:
    secret = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    lines = [*background(), LogLine(at(50), f"git clone failed token={secret} repo 7", "error")]
    summary = compact_logs(lines, WINDOW, redact=lambda text: text.replace(secret, "[redacted:github]"))
    assert "git clone failed token=[redacted:github] repo 7" in summary
    assert secret not in summary


def test_change_point_finds_a_level_shift_and_ignores_noise() -> None:
    counts = [10, 12, 9, 11, 10, 10, 11, 9, 60, 58, 62, 61]
    point = change_point(counts, T0, timedelta(minutes=1))
    assert point is not None
    assert point.at == at(8)
    assert (point.before_per_min, point.after_per_min) == pytest.approx((10.25, 60.25))
    assert change_point([10, 12, 9, 11, 10, 13, 9, 11, 10, 12], T0, timedelta(minutes=1)) is None
    assert change_point([1, 2], T0, timedelta(minutes=1)) is None


def test_rows_become_lines_and_undated_rows_are_skipped() -> None:
    rows = [{"timestamp": "2026-11-20T13:01:00Z", "message": "a", "severity": "ERROR"},
            {"timestamp": "not a time", "message": "b"},
            {"message": "c"}]
    assert list(lines_from_rows(rows)) == [LogLine(at(1), "a", "ERROR")]
