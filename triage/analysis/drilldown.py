"""What is different about the failing traffic: attribute values ranked by how much they explain.

In the spirit of Adtributor, iDice and Datadog's tag outliers, each attribute value (see
`drilldown_attributes`) is compared in two ways, and scored by the share it gained, that is
coverage x (1 - 1/lift):

- concentration, inside the incident window [onset, end): its share of the anomalous rows against
  its share of all rows (`currency=EUR: 100% of errors, 31% of traffic`);
- shift: its share of the incident window against its share of the baseline [.., onset), over all
  rows (`query.utm_campaign=blackfriday: 0% -> 64% of requests`), for surges where nothing fails.

    drill_down(rows, onset, is_anomalous=lambda row: row.get("level") == "error")

A share is taken among the rows that could carry the field (requests for a request line's path or
query, rows with the field otherwise), so a change in the mix of line kinds (more requests, fewer
heartbeats) moves nothing. A value must clear every bar: enough rows, a large share gap and
lift, and a z-score that noise over a few dozen candidates would not reach. Fields that restate
the anomaly (level, status) are never reported, nor shifts of fields only anomalous lines carry.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from connectors.timeparse import parse_timestamp
from triage.analysis.drilldown_attributes import HOST_CALLED, QUERY_PREFIX, REQUEST_FIELDS, attributes

__all__ = ["Contributor", "WindowCounts", "attributes", "count_windows", "drill_down", "rank"]

MIN_COUNT = 5  # rows a value needs (anomalous ones for concentration, incident ones for shift)
MIN_GAP = 0.1  # share gained, in absolute terms
MIN_LIFT = 1.5  # share gained, relative
MIN_Z = 4.0  # binomial / two-proportion z-score
MAX_VALUES = 50  # a field with more distinct values only offers its dominant ones...
DOMINANT = 0.25  # ...those with at least this share of the anomalous or of the incident rows
# Last name parts of fields that describe the outcome rather than the traffic: with an
# `is_anomalous` by level or status they would "explain" the anomaly by restating it.
OUTCOME_FIELDS = frozenset({"level", "severity", "levelname", "loglevel", "log_level", "status",
                            "status_code", "statuscode", "status_class", "response_code",
                            "http_status", "http_code", "response_flags", "status_text"})

Pair = tuple[str, str]


@dataclass(frozen=True)
class Contributor:
    """One attribute value and how much of the anomaly it explains."""

    field: str
    value: str
    mode: Literal["concentration", "shift"]
    # Shares are of the rows that could carry the field (requests for request-line fields, rows
    # with the nested object for `a.b`, rows with the field for the rest; all rows for
    # `host_called`, and in a shift for a field absent from the baseline).
    anomaly_share: float  # share of all the incident window's anomalous rows with this value
    traffic_share: float  # share of the incident window's rows with this value
    baseline_share: float  # share of the baseline's rows with this value
    incident_share: float  # traffic_share, as the shift compares it with the baseline
    anomalous: int  # anomalous incident rows with this value
    total: int  # incident rows with this value
    score: float  # share gained, coverage x (1 - 1/lift): of the anomaly, or of the traffic

    def describe(self, anomaly: str = "errors") -> str:
        """'currency=EUR: 100% of errors, 31% of traffic' / 'client=x: 2% -> 70% of requests'."""
        if self.mode == "concentration":
            return (f"{self.field}={self.value}: {_percent(self.anomaly_share)} of {anomaly}, "
                    f"{_percent(self.traffic_share)} of traffic")
        return (f"{self.field}={self.value}: {_percent(self.baseline_share)} -> "
                f"{_percent(self.incident_share)} of requests")


def _percent(share: float) -> str:
    """A share as a whole percentage that never rounds a little to nothing or most to all."""
    if 0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1:
        return ">99%"
    return f"{round(share * 100)}%"


def _stamp(value: Any) -> datetime | None:
    """A row's timestamp as an aware UTC datetime; None when it has none that parses."""
    # ISO 8601 text (YYYY-…), the common case, without parse_timestamp's checks (3x faster);
    # `20261014` is epoch seconds to parse_timestamp, a date to fromisoformat: leave it to the former.
    if type(value) is str and value[4:5] == "-":
        try:
            stamp = datetime.fromisoformat(value)
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        except ValueError:
            pass  # epoch seconds as text, or no time at all
    elif isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return parse_timestamp(value)
    except ValueError:
        return None


@dataclass
class _Counts:
    """Attribute value counts of the baseline, the incident window and its anomalous rows."""

    baseline: Counter[Pair]
    incident: Counter[Pair]
    anomalous: Counter[Pair]
    baseline_rows: int = 0
    incident_rows: int = 0
    anomalous_rows: int = 0


@dataclass
class WindowCounts:
    """One pass over the rows: attribute values of the baseline and the incident window, and of
    the incident rows each named reading (`readings`) calls anomalous."""

    baseline: Counter[Pair] = dataclasses.field(default_factory=Counter)
    incident: Counter[Pair] = dataclasses.field(default_factory=Counter)
    anomalous: dict[str, Counter[Pair]] = dataclasses.field(default_factory=dict)
    baseline_rows: int = 0
    incident_rows: int = 0
    anomalous_rows: dict[str, int] = dataclasses.field(default_factory=dict)

    def reading(self, name: str) -> _Counts:
        """The counts as one reading of the anomaly sees them."""
        return _Counts(self.baseline, self.incident, self.anomalous[name], self.baseline_rows,
                       self.incident_rows, self.anomalous_rows[name])


Reading = Callable[[Mapping[str, Any]], bool]


def count_windows(rows: Sequence[Mapping[str, Any]], onset: datetime, end: datetime | None,
                  readings: Mapping[str, Reading]) -> WindowCounts:
    """One pass: every row's attributes counted in its window, and under each reading that
    calls it anomalous (attributes are the costly part: they are taken once per row)."""
    onset = onset if onset.tzinfo else onset.replace(tzinfo=UTC)
    end = end if end is None or end.tzinfo else end.replace(tzinfo=UTC)
    counts = WindowCounts(anomalous={name: Counter() for name in readings},
                          anomalous_rows=dict.fromkeys(readings, 0))
    for row in rows:
        stamp = _stamp(row.get("timestamp", row.get("@timestamp")))
        if stamp is None or (end is not None and stamp >= end):
            continue
        pairs = attributes(row).items()
        if stamp < onset:
            counts.baseline.update(pairs)
            counts.baseline_rows += 1
            continue
        counts.incident.update(pairs)
        counts.incident_rows += 1
        for name, is_anomalous in readings.items():
            if is_anomalous(row):
                counts.anomalous[name].update(pairs)
                counts.anomalous_rows[name] += 1
    return counts


class _Presence:
    """How many rows of one window carry each field, and the distinct values of each."""

    def __init__(self, counter: Counter[Pair], rows: int) -> None:
        self.rows = rows
        self.fields: Counter[str] = Counter()
        self.distinct: Counter[str] = Counter()
        for (field, _value), count in counter.items():
            self.fields[field] += count
            self.distinct[field] += 1
        # Rows carrying a nested object: those with its most frequent member field.
        self.objects: Counter[str] = Counter()
        for field, count in self.fields.items():
            head, dot, _ = field.partition(".")
            if dot and count > self.objects[head]:
                self.objects[head] = count

    def family(self, field: str) -> int:
        """The rows a field's share is taken among: those that could carry it. A share among all
        rows would move with the mix of line kinds (more requests, fewer heartbeats), and would
        make any value of a field only error lines carry look concentrated on the errors."""
        if field == HOST_CALLED:  # an absent URL is meaningful: the line called nothing
            return self.rows
        if field in REQUEST_FIELDS or field.startswith(QUERY_PREFIX):
            return max(self.fields["method"], self.fields[field])  # requests
        head, dot, _ = field.partition(".")
        return self.objects[head] if dot else self.fields[field]


def _is_outcome(field: str) -> bool:
    """Whether a field describes the outcome (level, status) rather than the traffic."""
    return field.rsplit(".", 1)[-1].lower() in OUTCOME_FIELDS


def _z(hits: float, trials: float, rate: float) -> float:
    """How many standard deviations `hits` of `trials` lie above the binomial expectation."""
    spread = math.sqrt(trials * rate * (1 - rate))
    return (hits - trials * rate) / spread if spread else math.inf


def _clears(gained: float, ratio: float, z: float) -> bool:
    """The significance bar every contributor must clear."""
    return gained >= MIN_GAP and ratio >= MIN_LIFT and z >= MIN_Z


class _Ranker:
    """Scores the counted values of one window pair in both modes."""

    def __init__(self, counts: _Counts, min_rows: int) -> None:
        self.c = counts
        self.min_rows = min_rows
        self.base = _Presence(counts.baseline, counts.baseline_rows)
        self.inc = _Presence(counts.incident, counts.incident_rows)
        self.anom = _Presence(counts.anomalous, counts.anomalous_rows)
        # Distinct values over both windows, without building their merged counter.
        self.distinct = Counter(self.base.distinct)
        self.distinct.update(pair[0] for pair in counts.incident if pair not in counts.baseline)

    def _shift_families(self, field: str) -> tuple[int, int]:
        """Baseline and incident denominators of a shift; all rows for a field new since the
        onset (its appearance is the shift)."""
        base = self.base.family(field)
        return (base, self.inc.family(field)) if base else (self.base.rows, self.inc.rows)

    def _contributor(self, pair: Pair, mode: Literal["concentration", "shift"],
                     score: float) -> Contributor:
        c = self.c
        base_rows, inc_rows = self._shift_families(pair[0])
        traffic_rows = self.inc.family(pair[0])
        return Contributor(
            field=pair[0], value=pair[1], mode=mode,
            anomaly_share=c.anomalous[pair] / c.anomalous_rows if c.anomalous_rows else 0.0,
            traffic_share=c.incident[pair] / traffic_rows if traffic_rows else 0.0,
            baseline_share=c.baseline[pair] / base_rows if base_rows else 0.0,
            incident_share=c.incident[pair] / inc_rows if inc_rows else 0.0,
            anomalous=c.anomalous[pair], total=c.incident[pair], score=score)

    def _offered(self, field: str, *shares: float) -> bool:
        """Whether a value is a candidate: no outcome field, and dominant if the field is id-like."""
        if _is_outcome(field):
            return False
        return self.distinct[field] <= MAX_VALUES or max(shares) >= DOMINANT

    def concentration(self) -> list[Contributor]:
        """Values over-represented among the anomalous rows of the incident window."""
        c = self.c
        if c.incident_rows < self.min_rows or not 0 < c.anomalous_rows < c.incident_rows:
            return []
        found: list[Contributor] = []
        for pair, hits in c.anomalous.items():
            if hits < MIN_COUNT:
                continue
            anomalous, rows = self.anom.family(pair[0]), self.inc.family(pair[0])
            share, traffic = hits / anomalous, c.incident[pair] / rows
            if not self._offered(pair[0], share, traffic):
                continue
            if _clears(share - traffic, share / traffic, _z(hits, anomalous, traffic)):
                # Coverage of the whole anomaly, times the part of it the value's lift explains.
                score = hits / c.anomalous_rows * (1 - traffic / share)
                found.append(self._contributor(pair, "concentration", score))
        return found

    def shift(self) -> list[Contributor]:
        """Values whose share of the traffic rose from the baseline to the incident window."""
        c = self.c
        if min(c.baseline_rows, c.incident_rows) < max(self.min_rows, 1):
            return []
        found: list[Contributor] = []
        for pair, count in c.incident.items():
            # A field only anomalous lines carry (a request body logged with each error) tells
            # how errors are logged, not how the traffic changed; concentration judges it.
            if count < MIN_COUNT or self.inc.fields[pair[0]] == self.anom.fields[pair[0]]:
                continue
            base_rows, inc_rows = self._shift_families(pair[0])
            share, before = count / inc_rows, c.baseline[pair] / base_rows
            if not self._offered(pair[0], share):
                continue
            pooled = (count + c.baseline[pair]) / (inc_rows + base_rows)
            spread = math.sqrt(pooled * (1 - pooled) * (1 / inc_rows + 1 / base_rows))
            z = (share - before) / spread if spread else math.inf
            if _clears(share - before, share / before if before else math.inf, z):
                found.append(self._contributor(pair, "shift", share - before))
        return found


def _distinct_findings(found: list[Contributor]) -> list[Contributor]:
    """Best first, one finding per value: its better mode (a value the errors carry also rises in
    the traffic), and one name for it (`currency` and `query.currency` on the very same rows)."""
    seen: set[tuple[str, ...]] = set()
    kept: list[Contributor] = []
    for item in sorted(found, key=lambda item: (-item.score, item.field, item.value, item.mode)):
        keys = {(item.field, item.value),
                (item.value, str(item.anomalous), str(item.total), repr(item.baseline_share))}
        if seen.isdisjoint(keys):
            seen.update(keys)
            kept.append(item)
    return kept


def drill_down(rows: Sequence[Mapping[str, Any]], onset: datetime, *, is_anomalous: Reading,
               end: datetime | None = None, top: int = 5,
               min_rows: int = 20) -> list[Contributor]:
    """The attribute values that best explain the anomaly, best first; [] when nothing stands out."""
    if top <= 0 or not rows:
        return []
    return rank(count_windows(rows, onset, end, {"anomaly": is_anomalous}), "anomaly", top=top,
                min_rows=min_rows)


def rank(counts: WindowCounts, reading: str, *, top: int = 5,
         min_rows: int = 20) -> list[Contributor]:
    """`drill_down` on counts already taken: the values that best explain one reading's anomaly."""
    ranker = _Ranker(counts.reading(reading), min_rows)
    return _distinct_findings(ranker.concentration() + ranker.shift())[:top]
