"""What a culprit commit changed, in the words an on-call engineer wants: which lines, and whether
the change was to configuration (a default, a limit, a constant) rather than to logic."""

from __future__ import annotations

import re
from enum import StrEnum

CONFIG_FILE = re.compile(
    r"(?i)(^|/)(config|configs|conf|settings|defaults?)(/|\.|_|$)|\.(ya?ml|toml|ini|cfg|conf|env|properties)$"
    r"|(^|/)\.env")
TEST_FILE = re.compile(r"(?i)(^|/)(tests?|spec)(/|_)|_test\.\w+$|\.spec\.\w+$")
# `NAME = literal`, `name: literal`, `def f(..., timeout=3)`: a value, not logic.
_LITERAL = r"""(-?\d[\d_.]*\s*\w*|["'][^"']*["']|true|false|True|False|None|null)"""
VALUE_LINE = re.compile(rf"^\s*[\w.\-\"']+\s*[:=]\s*{_LITERAL}\s*,?\s*(#.*)?$"
                        rf"|^\s*def \w+\(.*\w+\s*=\s*{_LITERAL}.*\)\s*(->.*)?:\s*$")
MAX_EXCERPT_LINES = 6
MAX_LINE = 160
DIFF_LIMIT = 6000  # characters of `git show` kept with a culprit


class ChangeKind(StrEnum):
    """What kind of change a commit made."""

    CONFIG = "config"
    CODE = "code"


def change_blocks(diff: str) -> list[tuple[list[str], list[str]]]:
    """Each run of removed lines and the added lines right after it (one edit), outside tests."""
    blocks: list[tuple[list[str], list[str]]] = []
    removed: list[str] = []
    added: list[str] = []
    in_test = False

    def close() -> None:
        nonlocal removed, added
        if removed or added:
            blocks.append((removed, added))
        removed, added = [], []

    for line in diff.splitlines():
        if line.startswith("diff --git "):
            close()
            in_test = bool(TEST_FILE.search(line.split(" b/", 1)[-1]))
        elif line.startswith(("--- ", "+++ ")) or in_test:
            continue
        elif line.startswith("-"):
            if added:
                close()
            if line[1:].strip():
                removed.append(line[1:])
        elif line.startswith("+"):
            if line[1:].strip():
                added.append(line[1:])
        else:
            close()
    close()
    return blocks


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    """The removed and added lines of a unified diff outside test files (file headers excluded)."""
    blocks = change_blocks(diff)
    return ([line for old, _ in blocks for line in old], [line for _, new in blocks for line in new])


def classify_change(files: list[str], diff: str) -> ChangeKind:
    """CONFIG when the commit only touches configuration files or changes values (constants,
    defaults, settings) without changing logic; CODE otherwise (and when nothing is known)."""
    source = [f for f in files if not TEST_FILE.search(f)]
    if source and all(CONFIG_FILE.search(f) for f in source):
        return ChangeKind.CONFIG
    removed, added = changed_lines(diff)
    lines = [line for line in removed + added if not line.strip().startswith(("#", "//", '"""'))]
    if not lines:
        return ChangeKind.CODE
    values = sum(1 for line in lines if VALUE_LINE.match(line))
    return ChangeKind.CONFIG if values / len(lines) >= 0.6 and removed and added else ChangeKind.CODE


def diff_excerpt(diff: str) -> list[str]:
    """The changed lines: `old` → `new` where one line replaced another, else `- old` / `+ new`;
    value changes (a default, a limit) first, since they are the usual point."""
    out: list[tuple[bool, str]] = []
    for old, new in change_blocks(diff):
        if len(old) == len(new):
            out += [(bool(VALUE_LINE.match(a) and VALUE_LINE.match(b)),
                     f"`{_clip(a.strip())}` → `{_clip(b.strip())}`") for a, b in zip(old, new, strict=True)]
        else:
            out += [(False, f"`- {_clip(a.strip())}`") for a in old]
            out += [(False, f"`+ {_clip(b.strip())}`") for b in new]
    ordered = [text for value, text in out if value] + [text for value, text in out if not value]
    if len(ordered) > MAX_EXCERPT_LINES:
        extra = len(ordered) - MAX_EXCERPT_LINES
        ordered = [*ordered[:MAX_EXCERPT_LINES], f"… and {extra} more changed line(s)"]
    return ordered


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"
