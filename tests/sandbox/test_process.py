"""Bounded child processes: deadlines, whole-group kills, truncation, signal exit codes."""

from __future__ import annotations

import time

from sandbox.process import run_bounded

ENV = {"PATH": "/usr/bin:/bin"}


def test_output_exit_code_and_duration(tmp_path):
    result = run_bounded(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10,
                         output_limit=1000, env=ENV)
    assert (result.exit_code, result.timed_out) == (3, False)
    assert (result.stdout.text, result.stderr.text) == ("out\n", "err\n")
    assert 0 < result.duration_seconds < 10


def test_timeout_kills_the_process_group_grandchildren_included(tmp_path):
    marker = tmp_path / "marker"
    script = f"(sleep 0.7; touch {marker}) & sleep 30"
    started = time.monotonic()
    result = run_bounded(["sh", "-c", script], timeout=0.3, output_limit=1000, env=ENV)
    assert result.timed_out
    assert result.exit_code is None
    assert time.monotonic() - started < 5
    time.sleep(1.2)  # past the moment the grandchild would have written it
    assert not marker.exists()


def test_pipes_closed_early_still_wait_for_the_child():
    result = run_bounded(["sh", "-c", "exec >&- 2>&-; sleep 0.3; exit 4"], timeout=10,
                         output_limit=100, env=ENV)
    assert (result.exit_code, result.timed_out) == (4, False)


def test_child_that_closes_its_pipes_and_hangs_is_timed_out():
    result = run_bounded(["sh", "-c", "exec >&- 2>&-; sleep 30"], timeout=0.5, output_limit=100,
                         env=ENV)
    assert result.timed_out


def test_killed_by_a_signal_reports_128_plus_n():
    result = run_bounded(["sh", "-c", "kill -9 $$"], timeout=10, output_limit=100, env=ENV)
    assert result.exit_code == 137


def test_large_output_is_truncated_in_the_middle_with_its_size():
    result = run_bounded(["sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; echo END"],
                         timeout=10, output_limit=1000, env=ENV)
    assert result.stdout.truncated
    assert result.stdout.original_bytes == 300004
    assert result.stdout.text.rstrip().endswith("END")


def test_stdin_is_fed_and_the_environment_is_exactly_the_one_given(monkeypatch):
    monkeypatch.setenv("TRIAGE_TEST_LEAK", "should-not-pass")
    result = run_bounded(["sh", "-c", "cat; env"], timeout=10, output_limit=10000,
                         env={"PATH": "/usr/bin:/bin", "ONLY": "this"}, stdin=b"input\n")
    assert result.stdout.text.startswith("input\n")
    assert "ONLY=this" in result.stdout.text
    assert "TRIAGE_TEST_LEAK" not in result.stdout.text
