"""`triage sandbox run`: a command in a fresh local sandbox, by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sandbox.base import SandboxUnavailable
from sandbox.local import LocalBackend
from sandbox.workspace import Workspace
from tests.sandbox.repos import make_repo, reachable_dir
from triage.cli.sandbox import sandbox_app

pytestmark = pytest.mark.slow

runner = CliRunner()
cli = typer.Typer()
cli.add_typer(sandbox_app, name="sandbox")  # as triage/cli/__init__.py registers it


@pytest.fixture(scope="module")
def place() -> Iterator[tuple[Path, list[str]]]:
    with reachable_dir("triage-cli-sbx-") as root:
        try:
            LocalBackend(Workspace(root / "cache")).check()
        except SandboxUnavailable as exc:
            pytest.skip(f"local sandbox unavailable: {exc}")
        shas = make_repo(root / "repo", [{"app.py": "v1\n"}, {"app.py": "v2\n"}])
        yield root, shas


def invoke(root: Path, *args: str):
    return runner.invoke(cli, ["sandbox", "run", "--repo", str(root / "repo"),
                               "--cache-dir", str(root / "cache"), *args])


def test_runs_the_command_at_the_commit_and_exits_with_its_code(place, monkeypatch):
    root, shas = place
    monkeypatch.setenv("TRIAGE_CLI_PLANTED", "host-only-value")
    result = invoke(root, "--commit", shas[0], "--env", "MODE=check", "--",
                    "sh", "-c", "cat app.py; echo $MODE; env; echo oops >&2; exit 3")
    assert result.exit_code == 3, result.output
    assert "v1\ncheck\n" in result.output
    assert "oops" in result.output
    assert "exit 3 in" in result.output
    assert f"@ {shas[0]}" in result.output
    assert "host-only-value" not in result.output


def test_success_timeout_and_truncation_are_reported(place):
    root, _ = place
    ok = invoke(root, "--commit", "main", "--", "cat", "app.py")
    assert ok.exit_code == 0, ok.output
    assert "v2" in ok.output
    slow = invoke(root, "--commit", "main", "--timeout", "0.5", "--", "sleep", "30")
    assert slow.exit_code == 124
    assert "timed out after" in slow.output
    loud = invoke(root, "--commit", "main", "--output-bytes", "200", "--",
                  "sh", "-c", "seq 1 10000")
    assert loud.exit_code == 0
    assert "truncated in the middle: 48894 bytes" in loud.output
    assert "bytes cut from the middle" in loud.output


def test_errors_exit_2_with_the_reason(place):
    root, _ = place
    missing = runner.invoke(cli, ["sandbox", "run", "--repo", str(root / "nowhere"), "--commit",
                                  "main", "--cache-dir", str(root / "cache"), "--", "true"])
    assert missing.exit_code == 2
    assert "no such repository" in missing.output
    assert invoke(root, "--commit", "0" * 40, "--", "true").exit_code == 2
    assert invoke(root, "--commit", "main").exit_code == 2  # no command
    assert invoke(root, "--commit", "main", "--env", "NOEQUALS", "--", "true").exit_code == 2
    assert invoke(root, "--commit", "main", "--backend", "docker", "--", "true").exit_code == 2
