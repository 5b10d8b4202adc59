"""What the brain does with each `stop_reason` other than `tool_use` / `end_turn`, and what it
tells the model (platform.claude.com/docs "Stop reasons and fallback"):

- `max_tokens`: the turn is asked again once with a larger `max_tokens` (up to the model's
  ceiling and the output budget left; the cut answer is paid for and dropped). Still cut: the
  calls before the last block ran; the last block, a tool call being written when the reply was
  cut, is not run and the model is told so (and only then); a text-only reply is continued. A
  `submit_findings` cut a second time ends the conversation instead of repeating until the
  output budget is gone.
- `refusal`: the turn is asked again of the fallback model when one is configured (and the
  conversation goes on with it); otherwise, or when it refuses too, the rules brain's findings
  stand, with a note giving the refusal's category.
- `model_context_window_exceeded`: the reply is truncated like `max_tokens`, and the next request
  is compacted (older tool outputs shortened) before the conversation goes on.
- `pause_turn` (server tools only; this brain has none) is handled like `end_turn`.
"""

from __future__ import annotations

from typing import Any

TRUNCATED = frozenset({"max_tokens", "model_context_window_exceeded"})
RAISE_FACTOR = 2
MAX_CUT_SUBMITS = 1  # a cut submit_findings is sent back once; the second ends the conversation


def raised_max_tokens(current: int, ceiling: int, output_left: int | None) -> int | None:
    """The larger `max_tokens` a cut turn is asked again with, or None when there is no room."""
    higher = min(current * RAISE_FACTOR, ceiling, output_left if output_left is not None
                 else ceiling)
    return higher if higher > current else None


def cut_call(content: list[dict[str, Any]], stop: str) -> dict[str, Any] | None:
    """The tool call a truncated reply was writing when it was cut (its last block), if any."""
    if stop in TRUNCATED and content and content[-1].get("type") == "tool_use":
        return content[-1]
    return None


def cut_result(call: dict[str, Any], stop: str, max_tokens: int) -> str:
    """The tool_result text for the call that was cut."""
    why = (f"at max_tokens ({max_tokens:,} tokens)" if stop == "max_tokens"
           else "when the conversation filled the model's context window")
    if call.get("name") == "submit_findings":
        return (f"submit_findings was cut off {why} and was not read: submit again, shorter "
                "(fewer hypotheses, shorter rationale and notes)")
    return f"not run: your reply was cut off {why} while writing this call"


def continue_text(stop: str, max_tokens: int, cut: dict[str, Any] | None,
                  ran: int) -> str | None:
    """What the model is told after a truncated reply (None when it was not truncated)."""
    if stop == "model_context_window_exceeded":
        return ("Your reply stopped because the conversation filled the model's context window. "
                "Older tool outputs are shortened from now on (get_rows reads a stored step "
                "again). Continue, briefly, or call submit_findings.")
    if stop != "max_tokens":
        return None
    if cut is None:
        return (f"Your reply was cut off at max_tokens ({max_tokens:,} tokens) before it ended. "
                "Continue from where it stopped, briefly, or call submit_findings.")
    before = f"; the {ran} call(s) before it ran" if ran else ""
    return (f"Your reply was cut off at max_tokens ({max_tokens:,} tokens) while writing the "
            f"{cut.get('name')} call, which was not run{before}. Make fewer or smaller calls "
            "per turn.")


def refusal_reason(response: dict[str, Any], model: str) -> str:
    """Why the conversation ended at a refusal, with the API's category when it gave one."""
    details = response.get("stop_details") or {}
    category = details.get("category") if isinstance(details, dict) else None
    explanation = details.get("explanation") if isinstance(details, dict) else None
    said = f" (category {category}{': ' + str(explanation)[:200] if explanation else ''})" if (
        category or explanation) else ""
    return f"{model} declined to continue (stop_reason refusal{said})"
