"""The runtime does not know the workflow: only `triage.worker` brings the two together."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(module: str) -> set[str]:
    code = (f"import sys, {module}; "
            "print(' '.join(m for m in sys.modules if m.startswith('triage.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_runtime_imports_no_workflow_stage() -> None:
    loaded = loaded_after("triage.runtime")
    assert "triage.runtime" in loaded
    assert not loaded & {"triage.workflow", "triage.fix.stages", "triage.notify.notes",
                         "triage.worker"}


def test_the_worker_registers_the_workflow() -> None:
    assert {"triage.workflow", "triage.runtime"} <= loaded_after("triage.worker")
