"""Named crash points for recovery tests: `TRIAGE_FAILPOINTS=after:gather` kills the process
right after that stage commits, the way an OOM-kill or a node loss would."""

from __future__ import annotations

import os

EXIT_CODE = 137  # what a SIGKILLed process reports


def failpoint(name: str) -> None:
    """Exit at once, without cleanup, when `name` is listed in TRIAGE_FAILPOINTS."""
    armed = {p.strip() for p in os.environ.get("TRIAGE_FAILPOINTS", "").split(",") if p.strip()}
    if name in armed:
        os._exit(EXIT_CODE)
