"""Change points in metric and event-count series: where a level moved, by how much, step or ramp."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import ruptures  # type: ignore[import-untyped]

# Tuned on the train seeds of bench/changepoints.py only (the held-out seeds stay unseen).
PENALTY_FACTOR = 3.0  # PELT penalty per change, in noise variances, times log(n)
RISE_RATIO = 2.0  # an event rate must at least double to be a rise
SUSTAINED_SHARE = 0.6  # share of a rise's steps that must be above the old rate
BURST_RATE = 1.0  # events per step a rise must reach: below it is a trickle, however steady
STAIR_MAX = 8  # consecutive same-way segments this short are one ramp's stairs
RAMP_MIN = 3  # a transition spread over fewer points is a step
SHAPE_FACTOR = 3.0  # a ramp must fit better than a step by this many noise variances times log(m)
MAX_RAMP = 40  # longest ramp looked for, in points
TRANSIENT_MAX = 5  # an excursion this short that comes back is noise, not a level
LEVEL_FLOOR = 0.05  # noise is at least this share of the level (as metrics.py)
TINY = 1e-9
MAD_TO_SD = 1.4826  # makes a MAD estimate a standard deviation for normal data

Level = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class ChangePoint:
    """One change of level: where it starts, from what to what, how big, and its shape."""

    at: datetime
    index: int
    before: float
    after: float
    direction: Literal["rose", "fell"]
    relative: float
    z: float
    shape: Literal["step", "ramp"]


@dataclass(frozen=True)
class _Segment:
    start: int
    end: int  # exclusive
    level: float
    scale: float

    @property
    def size(self) -> int:
        return self.end - self.start


def _median(values: np.ndarray) -> float:
    return float(np.median(values))


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values))


def _prepare(times: Sequence[datetime], values: Sequence[float]) -> tuple[list[datetime], np.ndarray]:
    """Finite points in time order; points sharing a timestamp become their median."""
    by_time: dict[datetime, list[float]] = {}
    for stamp, value in zip(times, values, strict=True):
        number = float(value)
        if math.isfinite(number):
            by_time.setdefault(stamp, []).append(number)
    ordered = sorted(by_time)
    merged = [by_time[t][0] if len(by_time[t]) == 1 else statistics.median(by_time[t]) for t in ordered]
    return ordered, np.array(merged, dtype=float)


def _noise(x: np.ndarray) -> float:
    """Robust noise SD from first differences: level shifts and ramps barely move it."""
    spread = float(np.std(x)) if len(x) > 1 else 0.0
    diffs = np.diff(x) if len(x) > 2 else np.zeros(1)
    # About the median difference, so a ramp's slope is not taken for noise.
    rough = MAD_TO_SD * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
    # The floor keeps noise-free data (a clean step) numerically sane for the segmenter.
    return max(rough, 1e-3 * spread, TINY * max(1.0, float(np.max(np.abs(x))) if len(x) else 1.0))


def _breakpoints(y: np.ndarray, min_size: int, penalty: float) -> list[int]:
    """PELT (ruptures' C KernelCPD, linear kernel = l2 cost) on a noise-standardised series."""
    if len(y) < 2 * min_size or float(np.ptp(y)) == 0.0:
        return []
    algo = ruptures.KernelCPD(kernel="linear", min_size=min_size).fit(y.reshape(-1, 1))
    return [int(b) for b in algo.predict(pen=penalty)[:-1]]


def _standardise(x: np.ndarray, sigma: float) -> np.ndarray:
    # Scaling first keeps huge magnitudes from overflowing in the subtraction.
    scale = max(float(np.max(np.abs(x))), TINY)
    return (x / scale - float(np.median(x)) / scale) / (sigma / scale)


def _segments(x: np.ndarray, bounds: list[int], sigma: float, level: Level) -> list[_Segment]:
    edges = [0, *bounds, len(x)]
    return [_segment(x, a, b, sigma, level) for a, b in itertools.pairwise(edges)]


def _segment(x: np.ndarray, start: int, end: int, sigma: float, level: Level) -> _Segment:
    part = x[start:end]
    centre = level(part)
    mad = MAD_TO_SD * float(np.median(np.abs(part - np.median(part))))
    return _Segment(start, end, centre, max(mad, sigma, LEVEL_FLOOR * abs(centre), TINY))


def _drop_transients(x: np.ndarray, segs: list[_Segment], sigma: float, level: Level) -> list[_Segment]:
    """Merge short excursions that come back (spikes) and a short odd first segment."""
    segs = list(segs)
    if len(segs) > 1 and segs[0].size <= TRANSIENT_MAX:
        segs[:2] = [_segment(x, segs[0].start, segs[1].end, sigma, level)]
    i = 1
    while i < len(segs) - 1:
        prev, here, nxt = segs[i - 1], segs[i], segs[i + 1]
        away = here.level - prev.level
        returns = abs(nxt.level - prev.level) <= 0.5 * abs(away) and (nxt.level - here.level) * away < 0
        if here.size <= TRANSIENT_MAX and returns:
            segs[i - 1:i + 2] = [_segment(x, prev.start, nxt.end, sigma, level)]
            i = max(1, i - 1)
        else:
            i += 1
    return segs


def _groups(segs: list[_Segment]) -> list[tuple[int, int]]:
    """(before, after) segment indices of each change; short same-way stairs between are one ramp."""
    groups: list[tuple[int, int]] = []
    i = 0
    while i < len(segs) - 1:
        j = i + 1
        way = np.sign(segs[j].level - segs[i].level)
        while (j + 1 < len(segs) and segs[j].size <= STAIR_MAX
               and np.sign(segs[j + 1].level - segs[j].level) == way):
            j += 1
        groups.append((i, j))
        i = j
    return groups


def _despike(x: np.ndarray) -> np.ndarray:
    """Running median of five: drops one- and two-point spikes, keeps step edges and monotone ramps."""
    if len(x) < 5:
        return x
    padded = np.concatenate((x[:1], x[:1], x, x[-1:], x[-1:]))
    return np.asarray(np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1))


def _shape(x: np.ndarray, sigma: float, before: _Segment, after: _Segment,
           first: int, last: int) -> tuple[int, Literal["step", "ramp"]]:
    """Onset index and shape: least squares of flat-ramp-flat (levels fixed) against a plain step."""
    lo = max(before.start, first - MAX_RAMP)
    hi = min(after.end, last + MAX_RAMP)
    z = x[lo:hi] - before.level
    d = after.level - before.level
    m = len(z)
    idx = np.arange(m, dtype=float)
    p2 = np.concatenate(([0.0], np.cumsum(z * z)))
    p1 = np.concatenate(([0.0], np.cumsum(z)))
    pi = np.concatenate(([0.0], np.cumsum(z * idx)))
    k1 = np.arange(max(1, first - lo - MAX_RAMP), min(m, first - lo + MAX_RAMP // 4 + 1))[:, None]
    k2 = np.arange(0, m + 1)[None, :]
    valid = (k2 >= k1) & (k2 - k1 <= MAX_RAMP)
    k2c = np.maximum(k2, k1)
    span = (k2c - k1).astype(float)
    middle = (p2[k2c] - p2[k1]
              - 2 * d / (span + 1) * ((pi[k2c] - pi[k1]) - (k1 - 1) * (p1[k2c] - p1[k1]))
              + d * d * span * (2 * span + 1) / (6 * (span + 1)))
    tail = (p2[m] - p2[k2c]) - 2 * d * (p1[m] - p1[k2c]) + d * d * (m - k2c)
    sse = np.where(valid, p2[k1] + middle + tail, np.inf)
    steps = np.where(span == 0, sse, np.inf)
    ramps = np.where(span >= RAMP_MIN, sse, np.inf)
    step_at = np.unravel_index(int(np.argmin(steps)), sse.shape)
    ramp_at = np.unravel_index(int(np.argmin(ramps)), sse.shape)
    gain = float(steps[step_at] - ramps[ramp_at])
    if math.isfinite(gain) and gain > SHAPE_FACTOR * sigma * sigma * math.log(max(m, 2)):
        return lo + int(k1[ramp_at[0], 0]), "ramp"
    return lo + int(k1[step_at[0], 0]), "step"


def _change(times: list[datetime], at: int, before: _Segment, after: float,
            shape: Literal["step", "ramp"], z: float | None = None) -> ChangePoint:
    moved = after - before.level
    return ChangePoint(
        at=times[at], index=at, before=before.level, after=after,
        direction="rose" if moved > 0 else "fell",
        relative=abs(moved) / max(abs(before.level), TINY),
        z=abs(moved) / before.scale if z is None else z, shape=shape)


@dataclass(frozen=True)
class _Analysis:
    smooth: np.ndarray  # despiked, for fitting onsets
    sigma: float
    segs: list[_Segment]
    groups: list[tuple[int, int]]  # (before, after) segment indices of each change

    def onset(self, k: int) -> tuple[int, Literal["step", "ramp"]]:
        """Onset index and shape of change `k`, fitted on the despiked series."""
        b, a = self.groups[k]
        return _shape(self.smooth, self.sigma, self.segs[b], self.segs[a], self.segs[b + 1].start,
                      self.segs[a].start)


def _analyse(x: np.ndarray, *, min_size: int, penalty: float | None,
             transients: bool, level: Level = _median, y: np.ndarray | None = None,
             sigma: float | None = None) -> _Analysis:
    if len(x) < 2 * max(min_size, 1):  # too short to tell a change from noise
        return _Analysis(x, 0.0, [], [])
    noise = _noise(x) if sigma is None else sigma
    standard = _standardise(x, noise) if y is None else y
    pen = PENALTY_FACTOR * math.log(max(len(x), 2)) if penalty is None else penalty
    segs = _segments(x, _breakpoints(standard, min_size, pen), noise, level)
    if transients:
        segs = _drop_transients(x, segs, noise, level)
    groups = [(b, a) for b, a in _groups(segs) if segs[a].level != segs[b].level]
    return _Analysis(_despike(x), noise, segs, groups)


def detect_changes(times: Sequence[datetime], values: Sequence[float], *,
                   min_size: int = 3, penalty: float | None = None) -> list[ChangePoint]:
    """Every change point in the series, oldest first.

    `penalty` is PELT's cost per change in units of the series' noise variance
    (default PENALTY_FACTOR * log(n)); non-finite values are dropped, times sorted."""
    stamps, x = _prepare(times, values)
    found = _analyse(x, min_size=min_size, penalty=penalty, transients=False)
    changes = []
    for k, (b, a) in enumerate(found.groups):
        at, shape = found.onset(k)
        changes.append(_change(stamps, at, found.segs[b], found.segs[a].level, shape))
    return changes


def _significant(before: _Segment, after: float, min_z: float, min_relative: float) -> bool:
    moved = abs(after - before.level)
    return moved / before.scale >= min_z and moved / max(abs(before.level), TINY) >= min_relative


def incident_change(times: Sequence[datetime], values: Sequence[float], *, not_after: datetime,
                    min_z: float = 4.0, min_relative: float = 0.5, min_size: int = 3) -> ChangePoint | None:
    """The change that starts the incident level: the earliest change point of the last run of
    significant changes before `not_after` whose new level persists (or keeps moving the same way),
    or None when the series has no significant change."""
    stamps, x = _prepare(times, values)
    found = _analyse(x, min_size=min_size, penalty=None, transients=True)
    kept = sum(1 for b, _ in found.groups if stamps[found.segs[b + 1].start] <= not_after)
    if kept == 0:
        return None
    plateaus = [found.segs[found.groups[0][0]], *(found.segs[a] for _, a in found.groups[:kept])]
    final = plateaus[-1].level
    # The baseline is the latest settled level (not a ramp's stair) that the final level is far from.
    base = next((j for j in range(kept - 1, -1, -1) if (j == 0 or plateaus[j].size > STAIR_MAX)
                 and _significant(plateaus[j], final, min_z, min_relative)), None)
    if base is None:
        return None
    way = np.sign(final - plateaus[base].level)
    moves = [(plateaus[g + 1].level - plateaus[g].level) * way for g in range(base, kept)]
    # Wobble between the baseline and the jump is not the onset: the first move of the run's size is.
    first = base + next(i for i, m in enumerate(moves) if m >= 0.5 * max(moves))
    if first == base:
        # A run goes back through earlier significant moves the same way (a two-stage rise).
        while (first > 0 and np.sign(plateaus[first].level - plateaus[first - 1].level) == way
               and _significant(plateaus[first - 1], plateaus[first].level, min_z, min_relative)):
            first -= 1
    elif not _significant(plateaus[first], final, min_z, min_relative):
        plateaus[first] = plateaus[base]  # the level just before is still moving: report the settled one
    at, shape = found.onset(first)
    if stamps[at] > not_after:  # the fit may place a step a little after PELT's cut; that cut is in time
        at = found.segs[found.groups[first][0] + 1].start
    return _change(stamps, at, plateaus[first], final, shape)


def count_series(stamps: Sequence[datetime], start: datetime, end: datetime,
                 step: timedelta = timedelta(minutes=1)) -> tuple[list[datetime], list[float]]:
    """Per-step counts of events (e.g. one log template's lines) as a series with zeros filled."""
    size = step.total_seconds()
    if size <= 0:
        raise ValueError(f"step must be positive, not {step}")
    bins = max(0, math.ceil((end - start).total_seconds() / size))
    counts = [0.0] * bins
    for stamp in stamps:
        slot = math.floor((stamp - start).total_seconds() / size)
        if 0 <= slot < bins:
            counts[slot] += 1
    return [start + i * step for i in range(bins)], counts


def _rise_z(before: _Segment, counts: np.ndarray) -> float:
    """Poisson z-score of the events in `counts` given the before rate (floored at one event seen),
    counting the busiest step at the others' mean: one dump of lines is not a rate."""
    rest = np.sort(counts)[:-1]
    typical = float(rest.mean()) if len(rest) else float(counts.sum())
    rate = max(before.level, 1.0 / max(before.size, 1))
    expected = rate * len(counts)
    return (min(float(counts.sum()), typical * len(counts)) - expected) / math.sqrt(expected)


def _sustained(counts: np.ndarray, rate_before: float) -> bool:
    """Most steps are above the old rate: a burst, not one dump of lines or a sporadic trickle."""
    elevated = (counts >= 1) & (counts > RISE_RATIO * rate_before)
    return int(elevated.sum()) >= 3 and float(np.mean(elevated)) >= SUSTAINED_SHARE


def event_onset(stamps: Sequence[datetime], start: datetime, end: datetime, *, min_events: int = 5,
                min_z: float = 4.0) -> ChangePoint | None:
    """The onset of a rise in an event count series (log lines of one template, or error lines):
    a single rare line or a sporadic trickle is never an onset; needs at least `min_events` after.

    Levels are mean events per step (a sparse count's median is 0 whatever its trickle); z is
    the Poisson z-score of the events after the onset given the rate before."""
    times, counts = count_series(stamps, start, end)
    x = np.array(counts, dtype=float)
    if sum(counts) < min_events or len(x) < 6:
        return None
    # Anscombe's transform makes Poisson counts near unit-variance, less for sparse ones: the
    # variance comes from first differences (a burst adds only its two edges to them).
    y = 2 * np.sqrt(x + 0.375)
    variance = max(float(np.mean(np.diff(y) ** 2)) / 2, TINY)
    penalty = PENALTY_FACTOR * math.log(len(x)) * variance
    found = _analyse(x, min_size=3, penalty=penalty, transients=False, level=_mean, y=y,
                     sigma=math.sqrt(max(float(np.mean(x)), 1.0)))

    def rises(k: int) -> bool:
        b, a = found.groups[k]
        before, after = found.segs[b], found.segs[a]
        seen = x[found.segs[b + 1].start:after.end]  # PELT's segments, not the fitted onset: a
        # one-minute dump fits a one-point step but sits in a mostly empty segment
        return (after.level >= max(RISE_RATIO * before.level, BURST_RATE) and float(seen.sum()) >= min_events
                and _sustained(seen, before.level)
                and _rise_z(before, seen) >= min_z)

    last = next((k for k in range(len(found.groups) - 1, -1, -1) if rises(k)), None)
    if last is None:
        return None
    first = last
    while first > 0 and rises(first - 1):  # a rise in stages starts at its first
        first -= 1
    before = found.segs[found.groups[first][0]]
    after = found.segs[found.groups[last][1]]
    begin = found.segs[found.groups[first][0] + 1].start
    seen = x[begin:after.end]
    # The first line of the burst: a median-smoothed fit would skip its sparse first minutes.
    at = begin + int(np.argmax(seen > 0))
    shape = found.onset(last)[1] if first == last else "ramp"  # stages of a rise climb like a ramp
    return _change(times, at, before, after.level, shape, z=_rise_z(before, seen))
