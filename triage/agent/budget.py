"""What a model-driven investigation has spent (turns, tool calls, tokens, dollars, seconds) and
whether its `Budget` allows another turn.

Input tokens count everything the model read: uncached input, cache writes and cache reads.
Every attempt counts, not only the answered ones: an attempt abandoned after the API started
on it (a timeout, a dropped stream) is charged what the API reported before it stopped, or, when
nothing arrived, an estimate of its input tokens at the full input price.
Wall time counts this execution only: a worker resumed an hour later starts a fresh clock,
while the tokens and dollars of replayed turns (already paid) still count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from triage.agent.base import Budget

MIN_OUTPUT_TOKENS = 256  # below this a turn cannot say anything useful: the budget is spent


@dataclass
class Usage:
    """Token counts as the Messages API reports them, summed over turns."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Usage:
        """The `usage` object of one response (missing or null counts are zero)."""
        return cls(*(int(raw.get(name) or 0) for name in (
            "input_tokens", "output_tokens", "cache_creation_input_tokens",
            "cache_read_input_tokens")))

    def add(self, other: Usage) -> None:
        """Add another turn's counts."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens

    @property
    def all_input(self) -> int:
        """Every input token the model read, cached or not."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def as_dict(self) -> dict[str, int]:
        """The counts by the API's names."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cache_creation_input_tokens": self.cache_creation_input_tokens,
                "cache_read_input_tokens": self.cache_read_input_tokens}


@dataclass(frozen=True)
class Pricing:
    """USD per million tokens, by kind of token."""

    input: float = 3.0
    output: float = 15.0
    cache_write: float = 3.75
    cache_read: float = 0.30

    def cost(self, usage: Usage) -> float:
        """What `usage` costs, in USD."""
        return (usage.input_tokens * self.input + usage.output_tokens * self.output
                + usage.cache_creation_input_tokens * self.cache_write
                + usage.cache_read_input_tokens * self.cache_read) / 1_000_000


@dataclass
class Meter:
    """Counts what has been spent against a budget. Dollars are added as tokens are recorded,
    at the prices of the model then in use (a fallback model has its own)."""

    budget: Budget
    pricing: Pricing
    usage: Usage = field(default_factory=Usage)
    abandoned: Usage = field(default_factory=Usage)  # of attempts that brought no answer
    attempts: int = 0  # requests sent, retries included
    turns: int = 0
    tool_calls: int = 0
    started: float = field(default_factory=time.monotonic)
    spent: float = 0.0  # USD of answered turns
    abandoned_spent: float = 0.0  # USD of attempts whose answer was lost or discarded

    @property
    def cost(self) -> float:
        """USD spent so far, abandoned attempts included."""
        return self.spent + self.abandoned_spent

    @property
    def all_input(self) -> int:
        """Input tokens read so far, abandoned attempts included."""
        return self.usage.all_input + self.abandoned.all_input

    @property
    def elapsed(self) -> float:
        """Seconds since this execution started."""
        return time.monotonic() - self.started

    def remaining_seconds(self) -> float:
        """Wall time left."""
        return max(self.budget.max_seconds - self.elapsed, 0.0)

    def record_turn(self, usage: Usage) -> None:
        """Count one model turn (live or replayed)."""
        self.turns += 1
        self.usage.add(usage)
        self.spent += self.pricing.cost(usage)

    def record_attempt(self, abandoned: Usage | None = None, count: int = 1) -> None:
        """Count requests sent; `abandoned` is what they cost when they brought no answer (or
        an answer that was discarded: a cut turn asked again, a refusal)."""
        self.attempts += count
        if abandoned is not None:
            self.abandoned.add(abandoned)
            self.abandoned_spent += self.pricing.cost(abandoned)

    def exhausted(self) -> str | None:
        """Why no further turn may start, or None while the budget lasts. (A spent tool-call
        budget still allows one turn: the one that must submit findings.)"""
        budget = self.budget
        if self.turns >= budget.max_steps:
            return f"step budget ({budget.max_steps} model turns) used up"
        if budget.max_input_tokens is not None and self.all_input >= budget.max_input_tokens:
            return (f"input-token budget ({budget.max_input_tokens:,}) used up "
                    f"({self.all_input:,} read)")
        left = self.output_left()
        if left is not None and left < MIN_OUTPUT_TOKENS:
            return (f"output-token budget ({budget.max_output_tokens:,}) used up "
                    f"({self.usage.output_tokens:,} written)")
        if budget.max_cost_usd is not None and self.cost >= budget.max_cost_usd:
            return f"cost budget (${budget.max_cost_usd:.2f}) used up (${self.cost:.4f} spent)"
        if self.elapsed >= budget.max_seconds:
            return f"time budget ({budget.max_seconds:g} s) used up"
        return None

    def output_left(self) -> int | None:
        """Output tokens the budget still allows, or None when unbounded."""
        if self.budget.max_output_tokens is None:
            return None
        written = self.usage.output_tokens + self.abandoned.output_tokens
        return max(self.budget.max_output_tokens - written, 0)

    def tool_calls_left(self) -> int | None:
        """Tool calls the budget still allows, or None when unbounded."""
        if self.budget.max_tool_calls is None:
            return None
        return max(self.budget.max_tool_calls - self.tool_calls, 0)

    def last_turn(self) -> bool:
        """Whether the next turn is the last the step budget allows."""
        return self.turns + 1 >= self.budget.max_steps

    def caps(self) -> dict[str, Any]:
        """The budget's bounds (None: unbounded), for the findings and the report."""
        budget = self.budget
        return {"turns": budget.max_steps, "tool_calls": budget.max_tool_calls,
                "input_tokens": budget.max_input_tokens,
                "output_tokens": budget.max_output_tokens, "cost_usd": budget.max_cost_usd,
                "seconds": budget.max_seconds}

    def summary(self, model: str) -> dict[str, Any]:
        """Turns, tool calls, tokens and cost, and the budget's caps, for the findings and the
        report (`all_input_tokens` is what the input cap counts)."""
        return {"model": model, "turns": self.turns, "tool_calls": self.tool_calls,
                **self.usage.as_dict(), "attempts": self.attempts,
                "all_input_tokens": self.all_input,
                "all_output_tokens": self.usage.output_tokens + self.abandoned.output_tokens,
                "abandoned": self.abandoned.as_dict(),
                "abandoned_cost_usd": round(self.abandoned_spent, 6),
                "cost_usd": round(self.cost, 6), "seconds": round(self.elapsed, 3),
                "caps": self.caps()}
