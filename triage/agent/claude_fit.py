"""Requests that fit the model's context window: sized before they are sent, and the older tool
results shortened (the step stays in the store) instead of an HTTP 400 "prompt is too long".

The size is first estimated (on the high side, `estimate_tokens` over the request's JSON); only
when the estimate does not fit is the API's free `count_tokens` endpoint asked for the exact
figure. What is shortened is recorded with the turn, so a replay shortens the same results and
sends (and hashes) the same request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from triage.analysis.compaction import estimate_tokens

MAX_ROUNDS = 4  # count, shorten, count again: a bound on the count_tokens calls of one turn
COMPACT_TO = 0.6  # after the window overflowed mid-answer: use at most this share of it
ELIDED = 'status="elided"'
_WRAPPER = re.compile(r'<tool_output tool="([^"]*)" step="([^"]*)"')

Counter = Callable[[dict[str, Any]], int | None]  # exact input tokens, or None


class TooLong(Exception):
    """Nothing is left to shorten and the request still does not fit."""


def _results(messages: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(message index, block) of every tool result that can still be shortened."""
    return [(n, block) for n, msg in enumerate(messages) if msg["role"] == "user"
            and isinstance(msg["content"], list) for block in msg["content"]
            if block.get("type") == "tool_result" and isinstance(block.get("content"), str)
            and ELIDED not in block["content"]]


def elide(block: dict[str, Any]) -> None:
    """Replace one tool result by a pointer to its stored step."""
    text = str(block["content"])
    found = _WRAPPER.search(text)
    tool, step = found.groups() if found else ("?", "?")
    block["content"] = (
        f'<tool_output tool="{tool}" step="{step}" {ELIDED}>\n(shortened to fit the '
        f"context window: about {estimate_tokens(text):,} tokens. The step is stored: get_rows "
        f'or mine_log_templates with step_id "{step}" read it again.)\n</tool_output>')


def replay_elided(messages: list[dict[str, Any]], ids: list[str]) -> list[str]:
    """Shorten the results a stored turn shortened; the ids shortened."""
    wanted, done = set(ids), []
    for _, block in _results(messages):
        if block.get("tool_use_id") in wanted:
            elide(block)
            done.append(str(block["tool_use_id"]))
    return done


def fit(messages: list[dict[str, Any]], build: Callable[[], dict[str, Any]], limit: int,
        count: Counter, force: bool = False) -> list[str]:
    """Shorten tool results (largest of the older ones first, the newest message's last) until
    the request `build()` makes is at most `limit` input tokens; the ids shortened. `force`:
    the window overflowed before, so every result older than the newest message goes first."""
    shortened: list[str] = []
    if force:  # the window overflowed mid-answer: every older output goes first
        for index, block in _results(messages):
            if index < len(messages) - 1:
                elide(block)
                shortened.append(str(block["tool_use_id"]))
    for _ in range(MAX_ROUNDS):
        request = build()
        estimate = estimate_tokens(json.dumps(request))
        if estimate <= limit:
            return shortened
        exact = count(request)
        size = exact if exact is not None else estimate
        if size <= limit:
            return shortened
        # Shorten by the excess in estimate units (the estimate runs high; scale it).
        needed = (size - limit) * max(estimate / max(size, 1), 1.0)
        newest = len(messages) - 1
        candidates = sorted(_results(messages), key=lambda item: (
            item[0] == newest, -estimate_tokens(str(item[1]["content"]))))
        if not candidates:
            raise TooLong(f"the request needs about {size:,} input tokens, more than the "
                          f"{limit:,} the context window leaves, and no tool output is left to "
                          "shorten")
        for _, block in candidates:
            before = estimate_tokens(str(block["content"]))
            elide(block)
            shortened.append(str(block["tool_use_id"]))
            needed -= before - estimate_tokens(str(block["content"]))
            if needed <= 0:
                break
    request = build()
    exact = count(request)
    if (exact if exact is not None else estimate_tokens(json.dumps(request))) > limit:
        raise TooLong(f"the request still does not fit in the {limit:,} input tokens the "
                      "context window leaves after shortening tool outputs")
    return shortened
