"""Waiting for an event in tests: poll a condition until it holds, never sleep a fixed time.

One helper for every test that waits on another process (a worker, PostgreSQL, Prometheus):
the deadline is generous because CI is a busy 2-core machine, and the poll returns as soon as
the condition holds, so a quiet machine does not pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.05


def wait_for(condition: Callable[[], T], timeout: float = 60.0, what: str = "condition") -> T:
    """Poll `condition()` until it returns something truthy, and return that; fail the test
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL_SECONDS)
