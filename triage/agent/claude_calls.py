"""One model turn over the wire: streamed, retried within the time budget, every attempt counted.

The SDK's own retries are off (`max_retries=0` per call): its waits honour any `retry-after`,
however long, and its retries are invisible. Here each attempt gets what is left of the time
budget as its timeout, a retry happens only when its wait (the server's `retry-after`, else
backoff) still leaves time for an answer, and every attempt is reported to the meter.
Responses are streamed, so no `max_tokens` trips the SDK's guard against long non-streaming
calls, and an attempt cut off mid-stream is charged what the API reported before it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anthropic
from tenacity import RetryCallState, Retrying, retry_if_exception
from tenacity.wait import wait_exponential_jitter

from triage.agent.budget import Meter, Usage
from triage.agent.claude_messages import describe_failure, failure_label
from triage.analysis.compaction import estimate_tokens

MIN_ATTEMPT_SECONDS = 1.0  # a retry that leaves less than this for the answer is not made
RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx, as the SDK does
RETRY_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})  # mid-stream

Count = Callable[[str, Usage | None], None]  # (outcome label, billed usage) of one attempt
Retried = Callable[[str], None]  # a retry is coming; the label of the attempt that failed
COUNTED = ("model", "messages", "system", "tools", "tool_choice")  # what count_tokens takes


class CallFailed(Exception):
    """The turn got no answer; the message says why, in the API's words."""

    def __init__(self, message: str, status: int | None = None, out_of_time: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.out_of_time = out_of_time  # the time budget ended before an answer came


class _OutOfTime(Exception):
    """The time budget ended during an attempt."""


@dataclass
class _Attempt:
    """What one streamed attempt saw before it ended."""

    usage: Usage | None = None  # from message_start, updated by message_delta


def retryable(exc: BaseException) -> bool:
    """Whether a failed attempt is worth another (the SDK's rules, plus mid-stream errors)."""
    if isinstance(exc, anthropic.APIConnectionError):  # timeouts included
        return True
    if not isinstance(exc, anthropic.APIStatusError):
        return False
    hint = exc.response.headers.get("x-should-retry")
    if hint in ("true", "false"):
        return hint == "true"
    if exc.status_code == 200:  # an `error` event inside a stream
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        return isinstance(error, dict) and error.get("type") in RETRY_ERRORS
    return exc.status_code in RETRY_STATUSES or exc.status_code >= 500


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked to wait (`retry-after-ms`, else `retry-after`), if it did."""
    if not isinstance(exc, anthropic.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            return max(float(headers.get(name, "")) / scale, 0.0)
        except ValueError:
            continue
    return None


def _label(exc: BaseException | None) -> str:
    """The metrics outcome of a failed attempt."""
    if isinstance(exc, _OutOfTime):
        return "timeout"
    return failure_label(exc) if isinstance(exc, anthropic.APIError) else "error"


class Caller:
    """Asks the model for one turn at a time, within the meter's time budget."""

    def __init__(self, client: anthropic.Anthropic, *, max_retries: int, timeout: float,
                 meter: Meter, count: Count, retried: Retried | None = None) -> None:
        self.client = client
        self.max_retries = max_retries
        self.timeout = timeout
        self.meter = meter
        self.count = count
        self.retried = retried

    def count_tokens(self, request: dict[str, Any]) -> int | None:
        """The exact input tokens of `request` (the API's count_tokens endpoint: free, not
        billed), or None when it cannot say in time; the caller then keeps its estimate."""
        seconds = min(self.timeout, self.meter.remaining_seconds())
        if seconds < MIN_ATTEMPT_SECONDS:
            return None
        client = self.client.with_options(max_retries=0, timeout=seconds)
        try:
            counted = client.messages.count_tokens(**{k: request[k] for k in COUNTED
                                                      if k in request})
        except anthropic.APIError:
            return None
        return counted.input_tokens

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """The model's answer to `request` as a dict; CallFailed when there is none."""
        deadline = time.monotonic() + self.meter.remaining_seconds()
        backoff = wait_exponential_jitter(multiplier=0.5, max=8.0)
        why_stopped: list[str] = []

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            hinted = retry_after(error)
            return hinted if hinted is not None else backoff(state)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number > self.max_retries:
                return True
            left = deadline - time.monotonic()
            if state.upcoming_sleep + MIN_ATTEMPT_SECONDS > left:
                why_stopped.append(f"not retried: waiting {state.upcoming_sleep:g} s does not fit "
                                   f"in the {max(left, 0.0):.1f} s left of the time budget")
                return True
            return False

        def before_sleep(state: RetryCallState) -> None:
            if self.retried is not None:
                self.retried(_label(state.outcome.exception() if state.outcome else None))

        retrying = Retrying(retry=retry_if_exception(retryable), wait=wait, stop=stop,
                            before_sleep=before_sleep, reraise=True)
        try:
            response: dict[str, Any] = retrying(self._attempt, request, deadline)
        except _OutOfTime as exc:
            raise CallFailed(str(exc), out_of_time=True) from exc
        except anthropic.APIError as exc:
            status = exc.status_code if isinstance(exc, anthropic.APIStatusError) else None
            reason = "; ".join([describe_failure(exc), *why_stopped])
            late = (isinstance(exc, anthropic.APITimeoutError)
                    and deadline - time.monotonic() < MIN_ATTEMPT_SECONDS)
            raise CallFailed(reason, status, out_of_time=late) from exc
        return response

    def _attempt(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """One streamed request; the meter and the metrics hear of it whatever happens."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise _OutOfTime("time budget used up before the model answered")
        seconds = min(self.timeout, left)
        client = self.client.with_options(max_retries=0, timeout=seconds)
        seen = _Attempt()
        try:
            response = self._stream(client, request, deadline, seen)
        except (anthropic.APIError, _OutOfTime) as exc:
            abandoned = seen.usage
            if abandoned is None and isinstance(exc, (anthropic.APIConnectionError, _OutOfTime)):
                # Sent, then no word: the API may have read (and billed) the whole prompt.
                abandoned = Usage(input_tokens=estimate_tokens(json.dumps(request)))
            self.meter.record_attempt(abandoned)
            self.count(_label(exc), seen.usage)
            raise
        self.meter.record_attempt()
        self.count("ok", Usage.from_api(response.get("usage") or {}))
        return response

    @staticmethod
    def _stream(client: anthropic.Anthropic, request: dict[str, Any], deadline: float,
                seen: _Attempt) -> dict[str, Any]:
        """Read one streamed answer to the end, noting its usage as it arrives."""
        with client.messages.stream(**request) as stream:
            for event in stream:
                if event.type == "message_start":
                    seen.usage = Usage.from_api(event.message.usage.model_dump())
                elif event.type == "message_delta" and seen.usage is not None:
                    seen.usage.output_tokens = event.usage.output_tokens
                if time.monotonic() > deadline:
                    raise _OutOfTime("time budget used up while the model was answering")
            message = stream.get_final_message()
        dumped: dict[str, Any] = message.model_dump(mode="json", exclude_none=True)
        return dumped
