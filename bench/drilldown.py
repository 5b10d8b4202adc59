"""Drill-down benchmark: attribute extraction and `drill_down` at 10k and 100k log rows.

Run from the repository root, in the project's virtualenv:

    python bench/drilldown.py                  # 10k and 100k rows
    python bench/drilldown.py --sizes 1000000  # any sizes

Rows are generated deterministically (`--seed`) over one hour, the last 15 minutes being the
incident: structured fields (service, host, region, a nested `http` object, unique request and
trace ids), access lines with paths and query strings, `key=value` lines, heartbeats and calls to
a dependency by URL. Planted: every EUR checkout fails with a 503 after the onset (~30% of
checkouts), and a `utm_campaign` appears on ~60% of requests.

For each size it prints rows/s of `attributes` alone and of the whole `drill_down`, and of a naive
baseline run in the same process: plain dict counting of the rows' flat scalar fields (no message
parsing, no flattening) with the same lift test; then the ratio, and what each one found. The
timings are the best of `--repeat` runs, in CPU time of this process (single-threaded work, so
that is its wall time on an idle machine; other load on a shared machine does not skew it). The
exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from connectors.timeparse import parse_timestamp  # noqa: E402
from triage.analysis.drilldown import attributes, drill_down  # noqa: E402

START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
ONSET = START + timedelta(minutes=45)
HOSTS = [f"checkout-{k}" for k in range(10)]
Row = dict[str, Any]


def generate(count: int, seed: int) -> list[Row]:
    """`count` rows, oldest first, with the planted EUR failures and campaign."""
    rng = random.Random(seed)
    rows: list[Row] = []
    for index in range(count):
        stamp = START + timedelta(seconds=3600 * index / count)
        incident = stamp >= ONSET
        row: Row = {"timestamp": stamp.isoformat().replace("+00:00", "Z"), "service": "checkout",
                    "host": rng.choice(HOSTS), "region": rng.choice(["eu-west-1", "us-east-1"]),
                    "request_id": f"{rng.getrandbits(48):012x}", "level": "info",
                    "trace": {"trace_id": str(rng.getrandbits(63)), "sampled": rng.random() < 0.1}}
        kind = rng.random()
        if kind < 0.7:
            currency = rng.choices(["EUR", "USD", "GBP", "JPY"], [3, 4, 2, 1])[0]
            status = 503 if incident and currency == "EUR" else 200
            campaign = "&utm_campaign=blackfriday" if incident and rng.random() < 0.6 else ""
            row["message"] = (f"POST /api/orders/{rng.randrange(10**6)}?currency={currency}{campaign} "
                              f"{status} in {rng.randrange(5, 900)}ms")
            row["http"] = {"method": "POST", "status_code": status, "user_agent": rng.choice(
                ["ios/5.1", "android/5.0", "web"])}
            if status >= 500:
                row["level"] = "error"
        elif kind < 0.85:
            row["message"] = (f"cart priced client={rng.choice(['acme', 'globex', 'initech'])} "
                              f"items={rng.randrange(1, 9)} total={rng.random() * 500:.2f}")
        elif kind < 0.95:
            row["message"] = f"worker heartbeat ok pid={rng.randrange(1000, 99999)}"
        else:
            row["message"] = (f"payment gateway slow: POST https://api.cardproc.example/v1/charges "
                              f"took {rng.randrange(100, 3000)}ms")
            row["level"] = "warning"
        rows.append(row)
    return rows


def is_error(row: Mapping[str, Any]) -> bool:
    """The anomaly: error-level rows."""
    return row.get("level") == "error"


def naive(rows: Sequence[Mapping[str, Any]], onset: datetime,
          is_anomalous: Callable[[Mapping[str, Any]], bool]) -> list[tuple[float, str, str]]:
    """Dict counting of flat scalar fields in the incident window; values by share gained."""
    traffic: dict[tuple[str, str], int] = {}
    errors: dict[tuple[str, str], int] = {}
    rows_in = errors_in = 0
    for row in rows:
        if parse_timestamp(row["timestamp"]) < onset:
            continue
        anomalous = is_anomalous(row)
        rows_in += 1
        errors_in += anomalous
        for key, value in row.items():
            if key in ("timestamp", "message") or not isinstance(value, str | int | float):
                continue
            pair = (key, str(value))
            traffic[pair] = traffic.get(pair, 0) + 1
            if anomalous:
                errors[pair] = errors.get(pair, 0) + 1
    found = []
    for pair, hits in errors.items():
        share, base = hits / errors_in, traffic[pair] / rows_in
        if hits >= 5 and share - base >= 0.1 and share >= 1.5 * base and pair[0] != "level":
            found.append((round(share - base, 3), *pair))
    return sorted(found, reverse=True)[:5]


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    """The shortest CPU time of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        began = time.process_time()
        result = work()
        times.append(time.process_time() - began)
    return min(times), result


def run(size: int, seed: int, repeat: int) -> None:
    """Time one size and print its figures and findings."""
    rows = generate(size, seed)
    extract, _ = best_of(repeat, lambda: [attributes(row) for row in rows])
    full, found = best_of(repeat, lambda: drill_down(rows, ONSET, is_anomalous=is_error))
    simple, naive_found = best_of(repeat, lambda: naive(rows, ONSET, is_error))
    print(f"\n{size:,} rows")
    print(f"  attributes():      {size / extract:>12,.0f} rows/s  ({extract * 1000:.0f} ms)")
    print(f"  drill_down():      {size / full:>12,.0f} rows/s  ({full * 1000:.0f} ms)")
    print(f"  naive flat counts: {size / simple:>12,.0f} rows/s  ({simple * 1000:.0f} ms)")
    print(f"  drill_down / naive time: {full / simple:.1f}x")
    print("  drill_down found:")
    for item in found if isinstance(found, list) else []:
        print(f"    {item.describe()}  [{item.mode}, score {item.score:.2f}]")
    print("  naive found:")
    for score, field, value in naive_found if isinstance(naive_found, list) else []:
        print(f"    {field}={value}  [score {score:.2f}]")


def main() -> None:
    """Parse the options and run each size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for size in args.sizes:
        run(size, args.seed, args.repeat)


if __name__ == "__main__":
    main()
