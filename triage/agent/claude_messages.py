"""Messages API shapes: what is sent back each turn, cache breakpoints, prices, and the API's
errors in its own words."""

from __future__ import annotations

import copy
from typing import Any

import anthropic

from triage.agent.budget import Pricing
from triage.agent.claude_models import ModelSpec
from triage.observability import model_outcome

EMPTY_TURN = "(no output)"  # the API refuses an assistant message without content


def pricing_from(spec: ModelSpec) -> Pricing:
    """Prices per million tokens of one model."""
    return Pricing(spec.input_per_mtok, spec.output_per_mtok, spec.cache_write_per_mtok,
                   spec.cache_read_per_mtok)


def _blank(block: dict[str, Any]) -> bool:
    """A text block the API refuses: empty or whitespace only (models emit "\n\n" beside a
    tool call)."""
    return block.get("type") == "text" and not str(block.get("text") or "").strip()


def assistant_content(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A response's content as it is sent back in the next request (blank text dropped)."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text" and not _blank(block):
            out.append({"type": "text", "text": block["text"]})
        elif kind == "tool_use":
            out.append({key: block[key] for key in ("type", "id", "name", "input")})
        elif kind in ("thinking", "redacted_thinking"):
            out.append(block)
    return out or [{"type": "text", "text": EMPTY_TURN}]


def with_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with cache breakpoints on the newest block and on the last block of the user
    message before (where the previous request's breakpoint was). The API looks for a cached
    prefix only over the 20 blocks before a breakpoint: a turn of many parallel tool calls adds
    two blocks per call, so without the second mark the previous turn's prefix would be written
    again (1.25x) instead of read (0.1x). With the system prompt's, three of the four allowed."""
    marked = copy.deepcopy(messages)
    for index in (len(marked) - 1, len(marked) - 3):
        content = marked[index]["content"] if index >= 0 else None
        if isinstance(content, list) and content:
            content[-1]["cache_control"] = {"type": "ephemeral"}
    return marked


def failure_label(exc: anthropic.APIError) -> str:
    """The metrics label of a failed attempt: the HTTP status's name (an error event inside a
    stream by its error type), or why no status came."""
    if isinstance(exc, anthropic.APIStatusError):
        if exc.status_code == 200:
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            kind = error.get("type") if isinstance(error, dict) else None
            return {"overloaded_error": "overloaded", "rate_limit_error": "rate_limited"}.get(
                str(kind), "stream_error")
        return model_outcome(exc.status_code)
    if isinstance(exc, anthropic.APITimeoutError):
        return "timeout"
    return "unreachable"


def describe_failure(exc: anthropic.APIError) -> str:
    """The API's own words: status, error type and message."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        kind = error.get("type") or type(exc).__name__
        return f"HTTP {exc.status_code} {kind}: {error.get('message') or exc.message}"
    return f"{type(exc).__name__}: {exc}"
