"""Culprit diffs: config or code, and the excerpt the verdict shows."""

from __future__ import annotations

from triage.fix.diffs import ChangeKind, classify_change, diff_excerpt


def _diff(path: str, removed: list[str], added: list[str]) -> str:
    body = "".join(f"-{line}\n" for line in removed) + "".join(f"+{line}\n" for line in added)
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n context\n{body}"


def test_config_files_alone_are_a_config_change() -> None:
    assert classify_change(["deploy/settings.yaml"], "") == ChangeKind.CONFIG
    assert classify_change(["app/config.py", "tests/test_app.py"], "") == ChangeKind.CONFIG


def test_a_lowered_default_in_code_is_a_config_change() -> None:
    diff = _diff("app/client.py", ["def call(url, timeout=30):"], ["def call(url, timeout=3):"])
    assert classify_change(["app/client.py"], diff) == ChangeKind.CONFIG
    diff = _diff("app/pool.py", ["POOL_SIZE = 50"], ["POOL_SIZE = 5"])
    assert classify_change(["app/pool.py"], diff) == ChangeKind.CONFIG


def test_logic_is_a_code_change() -> None:
    diff = _diff("app/cart.py", ["    return a + b"], ["    total = Decimal(a)", "    return total + b"])
    assert classify_change(["app/cart.py"], diff) == ChangeKind.CODE
    assert classify_change([], "") == ChangeKind.CODE


def test_excerpt_pairs_replaced_lines_and_puts_value_changes_first() -> None:
    diff = (_diff("app/cart.py", ["    x = f(a)"], ["    x = g(a)", "    log(x)"])
            + _diff("app/config.py", ["TIMEOUT = 30"], ["TIMEOUT = 3"]))
    excerpt = diff_excerpt(diff)
    assert excerpt[0] == "`TIMEOUT = 30` → `TIMEOUT = 3`"
    assert "`- x = f(a)`" in excerpt and "`+ log(x)`" in excerpt


def test_excerpt_is_bounded_and_skips_tests() -> None:
    diff = _diff("app/big.py", [], [f"line_{i}()" for i in range(40)])
    diff += _diff("tests/test_big.py", ["assert old"], ["assert new"])
    excerpt = diff_excerpt(diff)
    assert len(excerpt) == 7 and excerpt[-1] == "… and 34 more changed line(s)"
    assert not any("assert" in line for line in excerpt)
