"""Verdicts: what one repro run says, decided the same way on the host and inside `git bisect run`.

=====================================================  ================  =========================
the repro run                                          verdict           `git bisect run` exit
=====================================================  ================  =========================
setup (build) failed, or timed out                     inconclusive      125 (skip: not blamed)
timed out                                              inconclusive      125
exit 0                                                 not_reproduced    0 (good)
exit 125 (the repro says it cannot test), 126, 127     inconclusive      125
killed by a signal (exit ≥ 128)                        inconclusive      125
any other exit, `expect` text absent from the output   inconclusive      125
any other exit, `expect` text present (or no expect)   reproduced        1 (bad)
=====================================================  ================  =========================
"""

from __future__ import annotations

import shlex
from enum import StrEnum

from pydantic import BaseModel, Field

from sandbox.base import ExecResult

EXCERPT_BYTES = 4000  # of each stream, kept in the step; the sandbox already cut the middle
CANNOT_TEST = frozenset({125, 126, 127})


class Verdict(StrEnum):
    """The outcome of a reproduction."""

    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not_reproduced"
    INCONCLUSIVE = "inconclusive"


class CommandRun(BaseModel):
    """One command run in a sandbox, as the report shows it."""

    command: list[str]
    exit_code: int | None
    timed_out: bool = False
    duration_seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    truncated: bool = Field(default=False, description="the output was cut in the middle")
    output_bytes: int = 0

    @classmethod
    def of(cls, result: ExecResult) -> CommandRun:
        """Record an ExecResult, keeping the tail of each stream."""
        return cls(command=result.command, exit_code=result.exit_code, timed_out=result.timed_out,
                   duration_seconds=round(result.duration_seconds, 3),
                   stdout=_tail(result.stdout.text), stderr=_tail(result.stderr.text),
                   truncated=(result.stdout.truncated or result.stderr.truncated
                              or len(result.stdout.text) > EXCERPT_BYTES
                              or len(result.stderr.text) > EXCERPT_BYTES),
                   output_bytes=result.stdout.original_bytes + result.stderr.original_bytes)

    @property
    def ok(self) -> bool:
        """Exited 0 in time."""
        return self.exit_code == 0 and not self.timed_out

    def outcome(self) -> str:
        """`exit 1 in 0.4 s` / `timed out after 60 s`."""
        if self.timed_out:
            return f"timed out after {self.duration_seconds:.1f} s"
        return f"exit {self.exit_code} in {self.duration_seconds:.1f} s"

    def excerpt(self, limit: int = 1200) -> str:
        """The end of the combined output: where failures print their reason."""
        text = "\n".join(part for part in (self.stdout.rstrip(), self.stderr.rstrip()) if part)
        return text if len(text) <= limit else "…" + text[-limit:]


def verdict_of(run: CommandRun, expect: str | None, timeout: float) -> tuple[Verdict, str]:
    """The verdict of one repro run, and why (see the table above)."""
    code = run.exit_code
    if run.timed_out or code is None:
        return Verdict.INCONCLUSIVE, f"the repro timed out after {timeout:g} s"
    if code == 0:
        return Verdict.NOT_REPRODUCED, "the repro passed (exit 0)"
    if code in CANNOT_TEST:
        why = {125: "the repro reported it cannot test this commit",
               126: "the repro command is not executable",
               127: "the repro command was not found"}[code]
        return Verdict.INCONCLUSIVE, f"{why} (exit {code})"
    if code >= 128:
        return Verdict.INCONCLUSIVE, f"the repro was killed by signal {code - 128} (exit {code})"
    if expect is not None and expect not in f"{run.stdout}\n{run.stderr}":
        return Verdict.INCONCLUSIVE, (f"the repro failed (exit {code}) but without the expected "
                                      f"output {expect!r}")
    shown = f" with {expect!r}" if expect else ""
    return Verdict.REPRODUCED, f"the repro failed (exit {code}){shown}"


def setup_failed(run: CommandRun) -> str:
    """Why a failed setup makes the verdict inconclusive."""
    return f"setup failed ({run.outcome()}): the commit could not be built, nothing was tested"


def bisect_step_script(setup: list[str] | None, setup_timeout: float, command: list[str],
                       timeout: float, expect: str | None) -> str:
    """The `git bisect run` step: the table above as a POSIX shell script (0 / 1 / 125)."""
    # The same verdict as verdict_of, with coreutils only: `timeout --preserve-status` reports a
    # kill as 128+N (inconclusive), and `grep -F` matches `expect` as plain text, like `in`.
    lines = [
        "#!/bin/sh",
        "# written by triage: one bisect step; exit 0 good, 1 bad, 125 cannot test (skip)",
        "at=$(git rev-parse --short=12 HEAD)",
        "git reset -q --hard && git clean -q -f -d",
    ]
    if setup:
        lines += [
            f"if ! timeout --preserve-status -k 5 {setup_timeout:g} {shlex.join(setup)} "
            "> /tmp/triage-setup.log 2>&1; then",
            '  echo "triage: $at: setup failed: skip"; tail -c 600 /tmp/triage-setup.log; exit 125',
            "fi",
        ]
    lines += [
        f"timeout --preserve-status -k 5 {timeout:g} {shlex.join(command)} "
        "> /tmp/triage-repro.log 2>&1",
        "code=$?",
        'echo "triage: $at: repro exit $code"',
        "tail -c 300 /tmp/triage-repro.log; echo",
        '[ "$code" -eq 0 ] && exit 0',
        'if [ "$code" -ge 125 ]; then echo "triage: $at: cannot test: skip"; exit 125; fi',
    ]
    if expect is not None:
        lines += [
            f"if ! grep -q -F -e {shlex.quote(expect)} /tmp/triage-repro.log; then",
            '  echo "triage: $at: failed without the expected output: skip"; exit 125',
            "fi",
        ]
    lines += ["exit 1", ""]
    return "\n".join(lines)


def _tail(text: str) -> str:
    """The last EXCERPT_BYTES characters of a stream."""
    return text if len(text) <= EXCERPT_BYTES else "…" + text[-EXCERPT_BYTES:]
