"""Retries with backoff for transient backend errors only, honouring `Retry-After`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

T = TypeVar("T")
MAX_RETRY_AFTER = 30.0


def call_with_retries(
    call: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda _: None,
    attempts: int = 4,
    max_wait: float = 8.0,
) -> T:
    """Run `call`; on a transient error wait (the server's Retry-After, capped, or exponential
    backoff with jitter) and try again, at most `attempts` times in all. Other errors raise."""
    backoff = wait_exponential_jitter(multiplier=0.2, max=max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = retry_after(error) if error is not None else None
        return min(hinted, MAX_RETRY_AFTER) if hinted is not None else backoff(state)

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    return retrying(call)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header given in seconds (HTTP dates are rare for APIs)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
