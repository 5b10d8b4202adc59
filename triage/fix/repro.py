"""Run a repro in a sandbox: the setup (build), then the command; the verdict, with the output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.base import Sandbox, SandboxError
from triage.fix.config import ReproSpec
from triage.fix.template import render
from triage.fix.verdict import CommandRun, Verdict, setup_failed, verdict_of

GIT_TIMEOUT = 120.0


@dataclass(frozen=True)
class ReproRun:
    """One reproduction attempt at the sandbox's current checkout."""

    verdict: Verdict
    reason: str
    command: list[str]
    setup: CommandRun | None
    run: CommandRun | None


def rendered(spec: ReproSpec, values: Mapping[str, str]) -> tuple[list[str], list[str] | None]:
    """The repro's command and setup with every placeholder filled in."""
    return render(spec.command, values), render(spec.setup, values) if spec.setup else None


def run_repro(sandbox: Sandbox, spec: ReproSpec, values: Mapping[str, str]) -> ReproRun:
    """Set up, then run the repro; a failed setup is inconclusive (nothing was tested)."""
    command, setup = rendered(spec, values)
    setup_run = None
    if setup:
        setup_run = CommandRun.of(sandbox.exec(setup, timeout=spec.setup_timeout))
        if not setup_run.ok:
            return ReproRun(Verdict.INCONCLUSIVE, setup_failed(setup_run), command, setup_run, None)
    run = CommandRun.of(sandbox.exec(command, timeout=spec.timeout))
    verdict, reason = verdict_of(run, spec.expect, spec.timeout)
    return ReproRun(verdict, reason, command, setup_run, run)


def git(sandbox: Sandbox, *args: str, timeout: float = GIT_TIMEOUT) -> str:
    """Run git inside the sandbox (never on the host: its .git is the sandbox's to write)."""
    result = sandbox.exec(["git", *args], timeout=timeout)
    if not result.ok:
        detail = (result.stderr.text.strip() or result.stdout.text.strip())[-2000:]
        state = "timed out" if result.timed_out else f"exit {result.exit_code}"
        raise SandboxError(f"git {args[0]} failed in the sandbox ({state}): {detail}")
    return result.stdout.text


def clean(sandbox: Sandbox) -> None:
    """Back to the committed tree: tracked changes and untracked files go, ignored builds stay."""
    result = sandbox.exec(["sh", "-c", "git reset -q --hard && git clean -q -f -d"],
                          timeout=GIT_TIMEOUT)  # one exec: each costs a sandbox start
    if not result.ok:
        raise SandboxError(f"git reset / clean failed in the sandbox: "
                           f"{result.stderr.text.strip()[-2000:]}")
