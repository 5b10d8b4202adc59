"""Real `triage worker` processes for kill-and-resume tests, and waiting on investigations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from triage import repository as repo
from triage.runtime import Runtime


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """A `triage worker` subprocess with `env` (its output captured)."""
    return subprocess.Popen([sys.executable, "-m", "triage.cli", "worker"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def state_of(runtime: Runtime, investigation_id: str) -> str:
    """The investigation's state ("" when it does not exist)."""
    with runtime.store.read() as conn:
        row = repo.get_investigation(conn, investigation_id)
    return str(row["state"]) if row else ""


