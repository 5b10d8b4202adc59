"""Verification of a candidate fix, on its committed tree in the sandbox: the repro must pass
(`not_reproduced`) and the repository's own tests must pass. A revert and a model-written
forward fix go through the same checks; anything less is not offered as a fix."""

from __future__ import annotations

from collections.abc import Mapping

from sandbox.base import Sandbox
from triage.fix.config import RepoTestCommand, ReproSpec
from triage.fix.records import FixRecord
from triage.fix.repro import clean, rendered, run_repro
from triage.fix.verdict import CommandRun, Verdict, setup_failed


def verify(sandbox: Sandbox, record: FixRecord, spec: ReproSpec, tests: RepoTestCommand | None,
           values: Mapping[str, str]) -> FixRecord:
    """Run the repro, then the tests, each from a clean checkout of the fix commit."""
    clean(sandbox)
    after = run_repro(sandbox, spec, values)
    record.setup_after, record.repro_after, record.verdict_after = after.setup, after.run, after.verdict
    if after.verdict != Verdict.NOT_REPRODUCED:
        record.status = "failed"
        record.reason = f"with the fix, the repro still does not pass: {after.reason}"
        return record
    if tests is None:
        record.status = "failed"
        record.reason = ("the service has no `test` command: a fix is only offered once the "
                         "repository's own tests pass on it")
        return record
    clean(sandbox)
    setup = tests.setup if tests.setup is not None else rendered(spec, values)[1]
    if setup:
        record.tests_setup = CommandRun.of(sandbox.exec(setup, timeout=spec.setup_timeout))
        if not record.tests_setup.ok:
            record.status = "failed"
            record.reason = f"tests: {setup_failed(record.tests_setup)}"
            return record
    record.tests = CommandRun.of(sandbox.exec(tests.command, timeout=tests.timeout))
    if not record.tests.ok:
        record.status = "failed"
        record.reason = f"the repository's tests fail with the fix ({record.tests.outcome()})"
        return record
    record.status = "verified"
    record.reason = (f"the repro passes with the fix ({after.run.outcome() if after.run else ''}) "
                     f"and so do the tests ({record.tests.outcome()})")
    return record
