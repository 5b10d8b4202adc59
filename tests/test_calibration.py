"""Calibration figures from hand-made eval results: accuracy, confusion, reliability, Brier."""

from __future__ import annotations

import pytest

from triage.calibration import bin_of, calibrate, format_calibration
from triage.scenarios import ScenarioResult


def result(name: str, truth: str | None, predicted: str | None, confidence: float = 0.0,
           blamed: bool = False) -> ScenarioResult:
    return ScenarioResult(scenario=name, checks=[], truth=truth, predicted=predicted,
                          confidence=confidence, blamed_commit=blamed)


RESULTS = [
    result("a", "bad-deploy", "bad-deploy", 0.9, blamed=True),     # right, 0.8-1.0
    result("b", "traffic-surge", "bad-deploy", 0.7, blamed=True),  # wrong and blames, 0.65-0.8
    result("c", "traffic-surge", "traffic-surge", 0.6),            # right, 0.5-0.65
    result("d", "false-alarm", "abstain", 0.2),                    # right (abstains), 0-0.35
    result("e", "db-contention", "abstain", 0.3),                  # wrong (abstains), 0-0.35
    result("f", None, "bad-deploy", 0.9),                          # states no truth: not scored
]


def test_accuracy_counts_an_abstention_on_a_false_alarm_as_right() -> None:
    cal = calibrate(RESULTS)
    assert (cal.scored, cal.correct) == (5, 3)
    assert cal.accuracy == pytest.approx(0.6)
    assert cal.per_category == {"bad-deploy": 1.0, "db-contention": 0.0, "false-alarm": 1.0,
                                "traffic-surge": 0.5}
    assert cal.unscored == ["f"]


def test_the_confusion_matrix_has_truth_rows_and_an_abstain_column() -> None:
    cal = calibrate(RESULTS)
    assert cal.labels == ["bad-deploy", "db-contention", "traffic-surge", "abstain"]
    assert cal.confusion["traffic-surge"] == {"bad-deploy": 1, "db-contention": 0,
                                              "traffic-surge": 1, "abstain": 0}
    assert cal.confusion["false-alarm"]["abstain"] == 1
    assert cal.confusion["db-contention"]["abstain"] == 1
    assert sum(sum(row.values()) for row in cal.confusion.values()) == 5


def test_reliability_bins_confidence_against_accuracy() -> None:
    bins = calibrate(RESULTS).reliability
    assert [(b.low, b.count) for b in bins] == [(0.0, 2), (0.35, 0), (0.5, 1), (0.65, 1), (0.8, 1)]
    assert bins[0].accuracy == 0.5 and bins[0].mean_confidence == pytest.approx(0.25)
    assert bins[1].accuracy is None
    assert (bins[2].accuracy, bins[3].accuracy, bins[4].accuracy) == (1.0, 0.0, 1.0)
    assert [bin_of(x) for x in (0.0, 0.35, 0.4999, 0.5, 0.8, 1.0)] == [0, 1, 1, 2, 4, 4]


def test_brier_scores_the_verdicts_own_probability() -> None:
    # named causes: p = confidence; abstentions: p = 1 - confidence (no cause is likely)
    expected = ((0.9 - 1) ** 2 + (0.7 - 0) ** 2 + (0.6 - 1) ** 2 + (0.8 - 1) ** 2
                + (0.7 - 0) ** 2) / 5
    assert calibrate(RESULTS).brier == pytest.approx(expected)


def test_blame_is_counted_only_where_the_truth_has_no_culprit() -> None:
    cal = calibrate(RESULTS)
    assert (cal.wrongly_blamed, cal.wrongly_blamed_bundles) == (1, ["b"])


def test_a_replay_error_is_its_own_column_and_out_of_the_reliability_table() -> None:
    cal = calibrate([result("x", "bad-deploy", None), result("y", "bad-deploy", "bad-deploy", 0.9)])
    assert cal.labels == ["bad-deploy", "abstain", "error"]
    assert cal.confusion["bad-deploy"]["error"] == 1
    assert sum(b.count for b in cal.reliability) == 1 and cal.accuracy == 0.5


def test_the_text_shows_matrix_table_and_blame() -> None:
    text = "\n".join(format_calibration(calibrate(RESULTS)))
    assert "category accuracy: 3/5 (60%)" in text
    assert "confusion matrix" in text and "reliability" in text and "Brier score: 0." in text
    row = [line for line in text.splitlines() if line.strip().startswith("traffic-surge")][-1]
    assert row.split()[1:] == ["1", ".", "1", "."]
    assert "blamed a commit or deploy when the truth has none: 1 (b)" in text
