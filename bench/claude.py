"""Claude brain benchmark: what the loop costs on top of the model, and what compaction and the
prompt cache save. No API key: the model is the loopback Messages API of the tests.

Run from the repository root, in the project's virtualenv:

    python bench/claude.py                # 10 turns, 3 runs
    python bench/claude.py --turns 20

What one run does:

1. Stages the demo incident and gathers its evidence for real (files connectors), as the brain
   stage sees it.
2. Size: the gathered evidence as raw JSON rows against the first message the model receives
   (estimated tokens, `triage.analysis.compaction.estimate_tokens`), and the ratio.
3. Overhead: a scripted conversation of `--turns` turns, each calling one log query, through
   `ClaudeBrain.investigate` (request building, hashing, the store writes of every turn and step,
   the query, compaction, wrapping, scanning), against the same number of bare
   `client.messages.create` calls carrying the same requests, on the same loopback server. The
   difference per turn is the brain's own cost. Best of `--runs`.
4. Cache: the share of input tokens the (simulated) prompt cache served over the conversation:
   the fake counts the system prompt and tools as written once, then read.

The exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anthropic

from tests.agent.claude_fixtures import WINDOW, direct
from tests.fakes.anthropic import API_KEY, FakeAnthropic, message, tool_use
from triage.agent.base import Budget
from triage.analysis.compaction import estimate_tokens


def _script(turns: int) -> list[Any]:
    """`turns` query turns, then a submission citing the gathered logs."""
    def submit(request: dict[str, Any]) -> dict[str, Any]:
        first = request["messages"][0]["content"][0]["text"]
        step = first.split('<evidence step="')[2].split('"')[0]
        return message(tool_use("submit_findings", {
            "summary": "s", "hypotheses": [{"category": "bad-deploy", "title": "t",
                                            "confidence": 0.9, "evidence": [step]}]}))
    queries = [message(tool_use("query_logs", {"query": "service=checkout level=error", **WINDOW,
                                               "limit": 1000 + n})) for n in range(turns)]
    return [*queries, submit]


def run(turns: int) -> dict[str, float]:
    """One measured run: brain seconds, bare seconds, sizes and cache share."""
    with tempfile.TemporaryDirectory() as tmp, direct(Path(tmp)) as case:
        raw = sum(estimate_tokens(json.dumps(c.evidence.rows)) for c in case.context.evidence)
        with FakeAnthropic(_script(turns)) as fake:
            clock = time.perf_counter()
            findings = case.investigate(fake, Budget(max_steps=turns + 1))
            brain = time.perf_counter() - clock
            requests = list(fake.requests)
        assert not findings.incomplete, findings.summary
        with FakeAnthropic(_script(turns)) as fake:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0)
            clock = time.perf_counter()
            for request in requests:  # streamed, as the brain asks
                body = {k: v for k, v in request.items() if k != "stream"}
                with client.messages.stream(**body) as stream:
                    stream.get_final_message()
            bare = time.perf_counter() - clock
            client.close()
    first = requests[0]["messages"][0]["content"][0]["text"]
    usage = findings.usage
    cached = usage["cache_read_input_tokens"]
    total = usage["input_tokens"] + usage["cache_creation_input_tokens"] + cached
    return {"brain": brain, "bare": bare, "raw": raw, "first": estimate_tokens(first),
            "cache_share": cached / total if total else 0.0, "turns": len(requests)}


def main() -> None:
    """Run and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [run(args.turns) for _ in range(args.runs)]
    best = min(results, key=lambda r: r["brain"] - r["bare"])
    per_turn = (best["brain"] - best["bare"]) / best["turns"] * 1000
    print(f"evidence: {best['raw']:,.0f} tokens of raw rows -> first message {best['first']:,.0f} "
          f"tokens ({best['raw'] / best['first']:.1f}x smaller)")
    print(f"{best['turns']:.0f} turns: brain {best['brain']:.3f} s, bare SDK calls "
          f"{best['bare']:.3f} s -> the brain's own cost {per_turn:.1f} ms per turn "
          f"(best of {args.runs})")
    print(f"prompt cache: {best['cache_share']:.0%} of input tokens read from the cache")


if __name__ == "__main__":
    main()
