"""Analyzer cost: the whole `analyze` stage on 100k log lines and 500 metric series, against the
fixed-onset analysis it replaced (error spike + new templates + median/MAD shifts at a fixed
split), in the same run.

    python bench/analysis.py                      # 100k lines, 500 series of 90 points
    python bench/analysis.py --lines 20000 --series 100

Prints, for each: seconds (best of `--repeat`), peak traced memory (tracemalloc), the signals
found, and the ratio new / old. The exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from connectors import Evidence, EvidenceKind, EvidenceStatus
from triage.analysis.logs import error_spike, new_error_templates
from triage.analysis.metrics import _robust_scale
from triage.analysis.runner import analyze_window
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal

ALERT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
START, END = ALERT - timedelta(minutes=90), ALERT + timedelta(minutes=5)
ONSET = ALERT - timedelta(minutes=7)
T = TypeVar("T")
PATHS = ["/api/cart", "/api/orders", "/api/search", "/api/profile", "/health"]


def _logs(lines: int, rng: random.Random) -> list[dict[str, Any]]:
    span = (END - START).total_seconds()
    rows = []
    for i in range(lines):
        at = START + timedelta(seconds=span * i / lines)
        incident = at >= ONSET
        if incident and rng.random() < 0.15:
            order = rng.randint(1, 9**6)
            rows.append({"timestamp": at.isoformat(), "level": "error",
                         "host": f"web-{rng.randint(1, 4)}", "currency": "EUR",
                         "message": "payments provider returned 503 Service Unavailable "
                                    f"(POST https://api.pay.example/v1/charge) order={order}"})
        else:
            path = rng.choice(PATHS)
            rows.append({"timestamp": at.isoformat(), "level": "info",
                         "host": f"web-{rng.randint(1, 4)}",
                         "currency": rng.choice(["EUR", "USD", "GBP"]),
                         "message": f"GET {path}/{rng.randint(1, 10**5)} 200 in {rng.randint(3, 900)}ms"})
    return rows


def _metrics(series: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    minutes = int((END - START).total_seconds() // 60)
    for s in range(series):
        moves = s % 10 == 0
        for m in range(minutes):
            at = START + timedelta(minutes=m)
            level = 100.0 * (4 if moves and at >= ONSET else 1)
            rows.append({"timestamp": at.isoformat(), "metric": f"metric_{s}", "service": "svc",
                         "value": level * (1 + rng.uniform(-0.05, 0.05))})
    return rows


def _evidence(kind: EvidenceKind, rows: list[dict[str, Any]], name: str) -> CitedEvidence:
    return CitedEvidence(name, Evidence(connector=name, kind=kind, status=EvidenceStatus.OK,
                                        query="*", start=START, end=END, row_count=len(rows),
                                        rows=rows))


def _old(cited: list[CitedEvidence], window: AnalysisWindow) -> list[Signal]:
    """The replaced analysis: a fixed split 15 min before the alert, median/MAD per series."""
    fixed = AnalysisWindow(window.start, ALERT - timedelta(minutes=15), window.end)
    out: list[Signal] = []
    for item in cited:
        if item.evidence.kind == EvidenceKind.LOGS:
            out += [s for s in (error_spike(item, fixed), new_error_templates(item, fixed)) if s]
        else:
            series: dict[str, list[tuple[str, float]]] = {}
            for row in item.evidence.rows:
                series.setdefault(row["metric"], []).append((row["timestamp"], row["value"]))
            for points in series.values():
                base = sorted(v for t, v in points if datetime.fromisoformat(t) < fixed.onset)
                during = sorted(v for t, v in points if datetime.fromisoformat(t) >= fixed.onset)
                centre = base[len(base) // 2]
                _robust_scale(base, centre)
                _ = during[len(during) // 2]
    return out


def _measure(run: Callable[[], T], repeat: int) -> tuple[float, float, T]:
    best = float("inf")
    result = run()
    for _ in range(repeat):
        clock = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - clock)
    tracemalloc.start()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20, result


def main() -> None:
    """Measure both analyses on the same generated evidence."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(7)
    cited = [_evidence(EvidenceKind.LOGS, _logs(args.lines, rng), "logs"),
             _evidence(EvidenceKind.METRICS, _metrics(args.series, rng), "metrics")]
    window = AnalysisWindow(START, ALERT - timedelta(minutes=15), END)
    def fresh() -> list[CitedEvidence]:
        # new records each run: the parsed forms an analysis caches must not carry over
        return [CitedEvidence(c.step_id, c.evidence) for c in cited]

    old_s, old_mb, _ = _measure(lambda: _old(fresh(), window), args.repeat)
    new_s, new_mb, result = _measure(lambda: analyze_window(fresh(), window), args.repeat)
    onset, signals = result
    print(f"evidence: {args.lines:,} log lines, {args.series} series × "
          f"{int((END - START).total_seconds() // 60)} points")
    print(f"old (fixed onset, median/MAD, templates): {old_s:7.2f} s  peak {old_mb:7.1f} MiB")
    print(f"new (change points, shapes, drill-down) : {new_s:7.2f} s  peak {new_mb:7.1f} MiB")
    print(f"ratio new/old: time {new_s / old_s:.2f}×, memory {new_mb / max(old_mb, 0.01):.2f}×")
    at = onset.at.strftime("%H:%M") if onset else "none"
    print(f"detected onset {at} (planted {ONSET:%H:%M}); {len(signals)} signals; first: "
          + "; ".join(s.title for s in signals[:3]))


if __name__ == "__main__":
    main()
