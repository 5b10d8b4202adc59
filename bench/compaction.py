"""Compaction benchmark: 100k generated log lines with planted incident templates → a summary a
brain can read, its size in tokens, and the recall of every planted new / risen template.

Run from the repository root, in the project's virtualenv:

    python bench/compaction.py                    # 100k lines, budget 2000 tokens
    python bench/compaction.py --lines 1000000    # streaming, bounded memory on a million lines

What one run does:

1. Generates, streaming and deterministically (`--seed`), `--lines` lines over one hour: a 45 min
   baseline then a 15 min incident window. Background: ~25 service templates (HTTP access lines,
   queries, cache, Kafka, GC, TLS, S3, ...) with Zipf-like weights and varying ids, numbers, IPs,
   UUIDs, paths, durations and quoted values, plus a long tail of 300 rare templates of which some
   appear for the first time in the incident window by chance (noise a summary must rank below
   the real news). Planted: 6 templates new in the incident window (at 100k lines: from ~1,400
   lines down to a single one) and 4 background templates whose rate rises ~9-18x.
2. Runs `triage.analysis.compaction.compact_logs` (the miner-based summary the brain sees) over
   the stream with the token budget, and prints the summary.
3. Prints its size: characters and estimated tokens (`estimate_tokens`: one per punctuation mark,
   per four letters, per three digits, at least characters / 4; no model tokenizer can be
   downloaded here, see triage/analysis/compaction.py), the recall
   of the planted templates (a planted new template counts when its text is in the NEW section,
   a risen one when it is in the RISEN section), the time (the generator is timed alone first and
   subtracted), lines/s and the growth of the peak resident memory while compacting. Then the
   goals: <= 2000 tokens, recall 100%, each marked met or missed.

The exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import bisect
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from triage.analysis.compaction import LogLine, compact_logs, estimate_tokens  # noqa: E402
from triage.analysis.signals import AnalysisWindow  # noqa: E402

START = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
WINDOW = AnalysisWindow(start=START, onset=START + timedelta(minutes=45),
                        end=START + timedelta(minutes=60))
Make = Callable[[random.Random], str]


@dataclass(frozen=True)
class Template:
    """A line generator with its level and weights in the baseline and incident windows."""

    level: str
    make: Make
    baseline: float
    incident: float
    marker: str = ""  # text the summary must show, for planted templates


def _ip(r: random.Random) -> str:
    """A private IPv4 address."""
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _uuid(r: random.Random) -> str:
    """A random UUID."""
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ORDER_QUERY = "SELECT * FROM orders WHERE id = $1"
_STOCK_QUERY = "SELECT sku, qty FROM inventory WHERE sku = $1"


def _background() -> list[Template]:
    """Service templates at the same rate in both windows."""
    t = Template
    return [
        t("info", lambda r: f"GET /api/cart/{r.randint(1, 99999)} 200 in {r.randint(5, 900)}ms", 30, 30),
        t("info", lambda r: f"POST /api/checkout 200 in {r.randint(50, 1500)}ms order={r.randint(1, 10**6)}",
          12, 12),
        t("info", lambda r: f"GET /api/products/sku-{r.randint(1, 5000)} 200 in {r.randint(2, 80)}ms "
                            "cache=hit", 20, 20),
        t("info", lambda r: f"GET /healthz 200 in {r.randint(0, 3)}ms", 10, 10),
        t("debug", lambda r: f"cache miss key=cart:{_uuid(r)}", 8, 8),
        t("info", lambda r: f"kafka consumer group=checkout-events partition={r.randint(0, 11)} "
                            f"offset={r.randint(10**5, 10**7)} lag={r.randint(0, 50)}", 6, 6),
        t("info", lambda r: f"user {r.randint(1, 10**5)} logged in from {_ip(r)}", 4, 4),
        t("info", lambda r: f"db query {_ORDER_QUERY} took {r.randint(1, 40)}ms rows={r.randint(0, 3)}",
          9, 9),
        t("warning", lambda r: f"slow query took {r.uniform(1, 5):.2f}s: {_STOCK_QUERY}", 0.5, 0.5),
        t("info", lambda r: f"GC pause {r.randint(1, 60)}ms heap={r.randint(200, 900)}MB", 3, 3),
        t("info", lambda r: f"published event OrderCreated id={_uuid(r)} to topic orders.v1", 5, 5),
        t("info", lambda r: f"scheduler tick: {r.randint(0, 40)} jobs queued, {r.randint(0, 8)} running",
          1, 1),
        t("info", lambda r: f"rate limiter: tenant t-{r.randint(1, 300)} at {r.randint(1, 99)}% of quota",
          2, 2),
        t("info", lambda r: f"pod checkout-{r.getrandbits(20):05x} ready in {r.uniform(1, 9):.1f}s",
          0.2, 0.2),
        t("info", lambda r: f"TLS handshake with {_ip(r)}:443 completed in {r.randint(1, 90)}ms", 2, 2),
        t("info", lambda r: f"S3 PUT s3://acme-exports/daily/{r.randint(1, 28):02d}/{_uuid(r)}.csv "
                            f"{r.randint(10**3, 10**7)} bytes", 0.5, 0.5),
        t("error", lambda r: f"payment declined for order {r.randint(1, 10**6)}: insufficient funds",
          0.6, 0.6),
        t("info", lambda r: f"feature flag \"new-checkout\" evaluated {r.choice(['true', 'false'])} for "
                            f"user {r.randint(1, 10**5)}", 3, 3),
        t("info", lambda r: f"sent email template=order-confirmation to user {r.randint(1, 10**5)} via "
                            f"smtp {_ip(r)}", 1.5, 1.5),
        t("warning", lambda r: f"deprecated API /v1/cart called by client 'mobile-{r.randint(1, 9)}.2'",
          0.3, 0.3),
        t("info", lambda r: f"worker {r.randint(1, 16)} processed batch of {r.randint(1, 500)} items in "
                            f"{r.uniform(0.1, 3):.2f}s", 2, 2),
    ]


def _risen() -> list[Template]:
    """Planted: background templates whose rate rises in the incident window."""
    t = Template
    return [
        t("warning", lambda r: f"retrying request to inventory-svc attempt={r.randint(1, 3)} after "
                               f"{r.randint(10, 500)}ms", 0.4, 6, "retrying request to inventory-svc"),
        t("error", lambda r: f"redis timeout after {r.randint(100, 900)}ms on GET session:"
                             f"{r.getrandbits(64):016x}", 0.2, 5, "redis timeout after"),
        t("warning", lambda r: f"HTTP 503 from https://pay.example/v2/charge?id={r.randint(1, 10**6)}",
          0.1, 2.5, "from https://pay.example"),
        t("error", lambda r: f"connection pool exhausted: {r.randint(18, 20)}/20 connections in use, "
                             f"waited {r.randint(100, 3000)}ms", 0.05, 0.6, "connection pool exhausted"),
    ]


def _new() -> list[Template]:
    """Planted: templates that appear only in the incident window."""
    t = Template
    return [
        t("error", lambda r: "TypeError: unsupported operand type(s) for +: 'decimal.Decimal' and 'float' "
                             f"in cart.total() order={r.randint(1, 10**6)}", 0, 8,
          "unsupported operand type(s)"),
        t("error", lambda r: "upstream connect error or disconnect/reset before headers. reset reason: "
                             f"connection timeout host={_ip(r)}:8443", 0, 3, "upstream connect error"),
        t("error", lambda r: f"OOMKilled: container worker-{r.randint(1, 16)} exceeded memory limit 512Mi",
          0, 0.5, "OOMKilled"),
        t("error", lambda r: f"ERROR: deadlock detected while updating orders id={r.randint(1, 10**6)}",
          0, 0.3, "deadlock detected"),
        t("warning", lambda r: f"circuit breaker OPEN for payments-api after {r.randint(5, 50)} "
                               "consecutive failures", 0, 0.15, "circuit breaker OPEN"),
        t("error", lambda r: "certificate verify failed: certificate has expired for host auth.internal",
          0, 0.01, "certificate verify failed"),
    ]


_WORDS = ("reconciler", "volume", "snapshot", "lease", "quota", "webhook", "replica", "ingress",
          "secret", "token", "policy", "audit", "backup", "shard", "tenant", "index", "cursor",
          "mirror", "ledger", "invoice", "refund", "coupon", "badge", "digest", "report", "export",
          "import", "sync", "purge", "rotate", "warm", "cold", "stale", "orphan")
_VERBS = ("skipped", "deferred", "rebuilt", "pruned", "rotated", "queued", "ignored", "expired",
          "renewed", "trimmed")


def _long_tail(rng: random.Random, count: int = 300) -> list[Template]:
    """Rare templates: two or three words that vary between templates, one value per line."""
    out = []
    for _ in range(count):
        a, b, c = rng.sample(_WORDS, 3)
        verb = rng.choice(_VERBS)
        text = f"{a} {b} {verb} for {c}"
        out.append(Template("info", _with_id(text), 0.004, 0.004))
    return out


def _with_id(text: str) -> Make:
    """A generator of `text` followed by a varying id."""
    def make(rng: random.Random) -> str:
        """`text` and a random id."""
        return f"{text} id={rng.randint(1, 10**6)}"
    return make


def all_templates(seed: int) -> list[Template]:
    """Background, long tail and planted templates."""
    return [*_background(), *_long_tail(random.Random(seed + 1)), *_risen(), *_new()]


def generate(lines: int, seed: int, templates: list[Template]) -> Iterator[LogLine]:
    """`lines` log lines over the hour, in time order, each from a template picked by weight."""
    rng = random.Random(seed)
    step = (WINDOW.end - WINDOW.start) / lines
    cumulative = {
        incident: _cumulative([t.incident if incident else t.baseline for t in templates])
        for incident in (False, True)
    }
    for index in range(lines):
        stamp = WINDOW.start + index * step
        weights = cumulative[stamp >= WINDOW.onset]
        pick = templates[bisect.bisect_right(weights, rng.random() * weights[-1])]
        yield LogLine(stamp, pick.make(rng), pick.level)


def _cumulative(weights: list[float]) -> list[float]:
    """Running totals of `weights`, for bisection."""
    out, total = [], 0.0
    for weight in weights:
        total += weight
        out.append(total)
    return out


def sections(summary: str) -> dict[str, str]:
    """The summary's NEW / RISEN / TOP sections by their first word."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in summary.splitlines():
        word = line.split(" ", 1)[0]
        if word in ("NEW", "RISEN", "TOP"):
            current = word
        found.setdefault(current, []).append(line)
    return {name: "\n".join(body) for name, body in found.items()}


def main(argv: list[str] | None = None) -> int:
    """Generate, compact, and print the summary, its size and the recall."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--budget", type=int, default=2000, help="token budget of the summary")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    templates = all_templates(args.seed)
    started = time.perf_counter()
    for _ in generate(args.lines, args.seed, templates):  # the generator's own cost, to subtract
        pass
    generation = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    summary = compact_logs(generate(args.lines, args.seed, templates), WINDOW,
                           budget_tokens=args.budget)
    seconds = time.perf_counter() - started
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    parts = sections(summary)
    new_hits = [t.marker for t in _new() if t.marker in parts.get("NEW", "")]
    risen_hits = [t.marker for t in _risen() if t.marker in parts.get("RISEN", "")]
    tokens = estimate_tokens(summary)
    planted = len(_new()) + len(_risen())
    recall = (len(new_hits) + len(risen_hits)) / planted
    missed = [t.marker for t in [*_new(), *_risen()] if t.marker not in [*new_hits, *risen_hits]]
    print(summary)
    print()
    print(f"lines                  {args.lines:,}")
    print(f"summary                {len(summary):,} chars, ~{tokens:,} tokens "
          f"(chars/4 = {len(summary) / 4:,.0f}; budget {args.budget:,})")
    print(f"recall new             {len(new_hits)}/{len(_new())}")
    print(f"recall risen           {len(risen_hits)}/{len(_risen())}")
    compaction = max(seconds - generation, 1e-9)
    print(f"time                   {seconds:.2f} s with generation; compaction alone ~{compaction:.2f} s "
          f"({args.lines / compaction:,.0f} lines/s)")
    print(f"peak RSS growth        {rss_growth:,.1f} MiB")
    print()
    print(f"goal: summary <= 2000 tokens: ~{tokens}: {'met' if tokens <= 2000 else 'missed'}")
    print(f"goal: recall 100%: {recall:.0%}: {'met' if recall == 1 else 'missed'}"
          + (f" (missed: {', '.join(missed)})" if missed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
