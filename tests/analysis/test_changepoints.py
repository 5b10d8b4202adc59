"""Change points with known answers: steps, late onsets, ramps, spikes, flat series, log events."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from triage.analysis.changepoints import count_series, detect_changes, event_onset, incident_change

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
N = 90  # one point a minute; the alert fires at the last one
ALERT = T0 + (N - 1) * MINUTE


def times(n: int = N) -> list[datetime]:
    return [T0 + i * MINUTE for i in range(n)]


def noisy(levels: list[float], sd: float, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in np.asarray(levels) + rng.normal(0, sd, len(levels))]


def step(before: float, after: float, at: int, n: int = N) -> list[float]:
    return [after if i >= at else before for i in range(n)]


def ramp(before: float, after: float, start: int, minutes: int, n: int = N) -> list[float]:
    """First point off `before` at `start`, `after` reached `minutes` later."""
    return [before + (after - before) * min(max((i - start + 1) / minutes, 0.0), 1.0) for i in range(n)]


def test_a_step_up_is_dated_at_its_first_point_with_its_size() -> None:
    values = noisy(step(100, 300, 70), sd=5)
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None
    assert (change.at, change.index, change.direction, change.shape) == (T0 + 70 * MINUTE, 70, "rose", "step")
    assert math.isclose(change.before, 100, rel_tol=0.05)
    assert math.isclose(change.after, 300, rel_tol=0.05)
    assert math.isclose(change.relative, 2.0, rel_tol=0.1)
    assert change.z > 10


def test_a_step_down_is_found() -> None:
    change = incident_change(times(), noisy(step(800, 150, 62), sd=20), not_after=ALERT)
    assert change is not None
    assert (change.index, change.direction) == (62, "fell")


def test_a_shift_three_minutes_before_the_alert_is_found() -> None:
    # The fixed 15 min split would put most of the baseline's points around it; this must not matter.
    values = noisy(step(50, 120, N - 3), sd=2)
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None
    assert change.at == ALERT - 2 * MINUTE
    assert change.direction == "rose"


def test_a_ramp_reports_where_the_climb_started() -> None:
    # A connection pool gauge climbing from 10 to its max of 100 over 15 minutes, then pinned.
    values = noisy(ramp(10, 100, 55, 15), sd=1.0)
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None
    assert change.shape == "ramp"
    assert abs(change.index - 55) <= 1
    assert math.isclose(change.after, 100, rel_tol=0.05)
    (listed,) = detect_changes(times(), values)
    assert listed.shape == "ramp" and abs(listed.index - 55) <= 1


def test_a_ramp_still_climbing_at_the_alert_is_dated_at_its_start() -> None:
    values = noisy(ramp(200, 600, 75, 20), sd=4)
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None
    assert change.shape == "ramp" and abs(change.index - 75) <= 2
    assert change.after > 400  # the level reached at the end, not the target


def test_a_one_point_spike_is_not_an_incident_change() -> None:
    values = noisy([100.0] * N, sd=3)
    values[60] = 900
    assert incident_change(times(), values, not_after=ALERT) is None


def test_spikes_around_a_step_do_not_move_its_onset() -> None:
    values = noisy(step(100, 250, 70), sd=3)
    values[40], values[74] = 700, 20
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None and change.index == 70


def test_flat_noise_and_a_slow_wobble_raise_nothing() -> None:
    wobble = [100 + 10 * math.sin(2 * math.pi * i / 60) for i in range(N)]
    for values in (noisy([100.0] * N, sd=8), noisy(wobble, sd=2)):
        assert incident_change(times(), values, not_after=ALERT) is None


def test_a_small_change_is_listed_but_is_not_significant() -> None:
    values = noisy(step(100, 125, 60), sd=1)
    assert [c.index for c in detect_changes(times(), values)] == [60]
    assert incident_change(times(), values, not_after=ALERT) is None
    assert incident_change(times(), values, not_after=ALERT, min_relative=0.2) is not None


def test_every_change_is_listed_oldest_first() -> None:
    values = noisy(step(10, 40, 30)[:50] + step(40, 5, 0, n=40), sd=0.5)
    changes = detect_changes(times(), values)
    assert [(c.index, c.direction) for c in changes] == [(30, "rose"), (50, "fell")]
    assert changes[0].after == changes[1].before


def test_a_two_stage_rise_starts_at_its_first_stage() -> None:
    values = noisy(step(100, 200, 50)[:70] + [400.0] * 20, sd=4)
    change = incident_change(times(), values, not_after=ALERT)
    assert change is not None
    assert change.index == 50 and math.isclose(change.after, 400, rel_tol=0.05)


def test_changes_after_not_after_are_ignored() -> None:
    values = noisy(step(100, 300, 40)[:70] + [900.0] * 20, sd=4)
    change = incident_change(times(), values, not_after=T0 + 60 * MINUTE)
    assert change is not None
    assert change.index == 40 and math.isclose(change.after, 300, rel_tol=0.05)
    assert incident_change(times(), values, not_after=T0 + 30 * MINUTE) is None


def test_short_and_constant_series_have_no_change() -> None:
    assert detect_changes(times(5), [1, 1, 9, 9, 9]) == []
    assert incident_change(times(5), [1, 1, 9, 9, 9], not_after=ALERT) is None
    assert detect_changes([], []) == []
    assert detect_changes(times(), [3.0] * N) == []
    assert incident_change(times(), [3.0] * N, not_after=ALERT) is None


def test_a_clean_step_without_noise_is_found_exactly() -> None:
    change = incident_change(times(), step(0.0, 5.0, 81), not_after=ALERT)
    assert change is not None and change.index == 81 and change.before == 0.0


def test_non_finite_values_are_dropped() -> None:
    values = noisy(step(100, 300, 70), sd=5)
    stamps = times()
    values[20], values[75] = float("nan"), float("inf")
    change = incident_change(stamps, values, not_after=ALERT)
    assert change is not None
    assert change.at == stamps[70]
    assert change.index == 69  # one dropped point before the onset


def test_unsorted_input_and_repeated_timestamps_give_the_same_answer() -> None:
    values = noisy(step(100, 300, 70), sd=5)
    pairs = list(zip(times(), values, strict=True))
    random.Random(3).shuffle(pairs)
    pairs += [(T0 + 10 * MINUTE, 100.0), (T0 + 80 * MINUTE, 300.0)]  # a backend's overlap
    change = incident_change([t for t, _ in pairs], [v for _, v in pairs], not_after=ALERT)
    assert change is not None and change.at == T0 + 70 * MINUTE


def test_counts_are_zero_filled_per_step() -> None:
    stamps = [T0 + timedelta(seconds=s) for s in (5, 50, 130, 599, 600, -1)]
    bins, counts = count_series(stamps, T0, T0 + 10 * MINUTE)
    assert bins == times(10)
    assert counts == [2, 0, 1, 0, 0, 0, 0, 0, 0, 1]
    _, wide = count_series(stamps, T0, T0 + 10 * MINUTE, step=timedelta(minutes=5))
    assert wide == [3, 1]


def rare(every: int = 10, until: int = 90) -> list[datetime]:
    """One line every `every` minutes: a template's usual baseline."""
    return [T0 + timedelta(minutes=m, seconds=17) for m in range(0, until, every)]


def test_a_lone_log_line_is_not_an_onset() -> None:
    assert event_onset([T0 + 70 * MINUTE], T0, ALERT + MINUTE) is None
    assert event_onset([*rare(), T0 + 71 * MINUTE], T0, ALERT + MINUTE) is None


def test_a_trickle_is_not_an_onset() -> None:
    assert event_onset(rare(every=10), T0, ALERT + MINUTE) is None
    # A line every three minutes from minute 50: sporadic, though more than min_events of them.
    trickle = rare(every=10, until=50) + rare(every=3, until=90)[17:]
    assert event_onset(trickle, T0, ALERT + MINUTE) is None
    # Lines in two minutes of every three from minute 40: steady, but under one a minute.
    steady = rare(every=10, until=40) + [T0 + timedelta(minutes=m, seconds=5) for m in range(40, 90)
                                         if m % 3]
    assert event_onset(steady, T0, ALERT + MINUTE) is None


def test_a_stack_trace_dumped_in_one_minute_is_not_an_onset() -> None:
    dump = [T0 + 70 * MINUTE + timedelta(seconds=s) for s in range(20)]
    assert event_onset([*rare(), *dump], T0, ALERT + MINUTE) is None


def test_a_sustained_burst_is_an_onset() -> None:
    burst = [T0 + timedelta(minutes=78, seconds=s) for s in range(0, 12 * 60, 20)]
    change = event_onset([*rare(), *burst], T0, ALERT + MINUTE)
    assert change is not None
    assert change.at == T0 + 78 * MINUTE and change.direction == "rose"
    assert change.after >= 2.5 and change.before < 0.5
    assert change.z >= 4


def test_a_burst_needs_min_events() -> None:
    burst = [T0 + timedelta(minutes=86 + m) for m in range(4)]
    assert event_onset([*rare(), *burst], T0, ALERT + MINUTE) is None
    assert event_onset([*rare(), *burst], T0, ALERT + MINUTE, min_events=3) is not None


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 500), finite), max_size=200), st.integers(0, 500), st.randoms())
def test_any_finite_series_is_handled(points: list[tuple[int, float]], cutoff: int,
                                      shuffler: random.Random) -> None:
    stamps = [T0 + m * MINUTE for m, _ in points]
    values = [v for _, v in points]
    for listed in detect_changes(stamps, values):
        assert min(stamps) <= listed.at <= max(stamps)
        assert sorted(set(stamps))[listed.index] == listed.at
    not_after = T0 + cutoff * MINUTE
    change = incident_change(stamps, values, not_after=not_after)
    if change is not None:
        assert min(stamps) <= change.at <= not_after
        assert change.relative >= 0.5 and change.z >= 4
    shuffler.shuffle(points)
    assert incident_change([T0 + m * MINUTE for m, _ in points], [v for _, v in points],
                           not_after=not_after) == change


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-60, 6000), max_size=300))
def test_any_event_stamps_are_handled(seconds: list[int]) -> None:
    end = T0 + 90 * MINUTE
    change = event_onset([T0 + timedelta(seconds=s) for s in seconds], T0, end)
    if change is not None:
        assert T0 <= change.at < end
        assert change.direction == "rose"
