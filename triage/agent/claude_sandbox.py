"""Sandbox tools for the model: read and search the service's code at the deployed commit, run
commands, and edit files for a forward fix. The sandbox has no network and no credentials; the
model never runs inside it, it only sends typed actions through `sandbox.base.Sandbox`.

The sandbox is opened on the first sandbox call and closed when the investigation ends.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from sandbox.base import ExecResult, Limits, RepoSpec, Sandbox, SandboxBackend, SandboxError
from triage.agent.claude_tools import ModelTool, ToolResult, cap_text, error

MAX_READ_LINES = 400
MAX_MATCHES = 200


@dataclass
class SandboxPlan:
    """Which repository and commit the sandbox checks out, with which backend and limits."""

    backend: SandboxBackend
    repo: RepoSpec
    limits: Limits


class SandboxSession:
    """Opens the sandbox on first use, and closes it."""

    def __init__(self, plan: SandboxPlan) -> None:
        self.plan = plan
        self.edited: list[str] = []  # paths the model wrote: a forward fix is exactly these
        self._sandbox: Sandbox | None = None
        self._failed: str | None = None

    def get(self) -> Sandbox:
        """The sandbox, prepared on first use (a failure is remembered, not retried)."""
        if self._failed:
            raise SandboxError(self._failed)
        if self._sandbox is None:
            try:
                self._sandbox = self.plan.backend.prepare(self.plan.repo, self.plan.limits)
            except (SandboxError, ValueError) as exc:
                self._failed = f"the sandbox could not be prepared: {exc}"
                raise SandboxError(self._failed) from exc
        return self._sandbox

    def diff(self) -> str:
        """The model's edits as a diff ('' when it edited nothing)."""
        return staged_diff(self.get(), self.edited) if self.edited else ""

    def close(self) -> None:
        """Destroy the sandbox."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


def staged_diff(sandbox: Sandbox, paths: list[str]) -> str:
    """Stage exactly `paths` and return their diff against the commit. Files that commands made
    (bytecode, build output) are not part of it; git runs inside the sandbox."""
    for argv in (["git", "add", "--", *paths],
                 ["git", "diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv",
                  "--binary"]):
        result = sandbox.exec(argv, timeout=120)
        if not result.ok:
            raise SandboxError(f"{' '.join(argv[:3])} failed: {result.stderr.text.strip()[-300:]}")
        if result.stdout.truncated:
            raise SandboxError(f"the diff is larger than {result.stdout.original_bytes} bytes")
    return result.stdout.text


def _in_git_dir(path: str) -> bool:
    """Whether a path points into `.git` (hooks and config there would run during verification)."""
    return ".git" in PurePosixPath(path.replace("\\", "/")).parts


def _exec_text(result: ExecResult, redact: Callable[[str], str]) -> str:
    """A command's outcome as the model reads it."""
    state = (f"timed out after {result.duration_seconds:.1f} s" if result.timed_out
             else f"exit {result.exit_code} in {result.duration_seconds:.1f} s")
    parts = [f"$ {shlex.join(result.command)}", state]
    for name, output in (("stdout", result.stdout), ("stderr", result.stderr)):
        if output.original_bytes:
            cut = f" (cut in the middle from {output.original_bytes} bytes)" if output.truncated else ""
            parts.append(f"--- {name}{cut}\n{redact(output.text)}")
    return "\n".join(parts)


def sandbox_tools(session: SandboxSession, tokens: int, command_timeout: float,
                  redact: Callable[[str], str]) -> list[ModelTool]:
    """Read, search, run and edit in the service's checkout."""

    def guarded(run: Callable[[Sandbox, dict[str, Any]], ToolResult]
                ) -> Callable[[dict[str, Any]], ToolResult]:
        def call(arguments: dict[str, Any]) -> ToolResult:
            try:
                result = run(session.get(), arguments)
            except SandboxError as exc:
                return error(str(exc))
            except KeyError as exc:
                return error(f"missing required argument {exc}")
            except (TypeError, ValueError) as exc:
                return error(f"invalid arguments: {exc}")
            return result
        return call

    def execute(sandbox: Sandbox, argv: list[str], timeout: float) -> ToolResult:
        return execute_result(sandbox.exec(argv, timeout=min(timeout, command_timeout)))

    def read_file(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        path = str(arguments["path"])
        lines = sandbox.read_file(path).splitlines()
        start = max(int(arguments.get("start_line", 1)), 1)
        count = min(int(arguments.get("max_lines", MAX_READ_LINES)), MAX_READ_LINES)
        shown = lines[start - 1: start - 1 + count]
        body = "\n".join(f"{start + n:>5}  {line}" for n, line in enumerate(shown))
        more = (f"\n[lines {start}-{start + len(shown) - 1} of {len(lines)}]"
                if len(shown) < len(lines) else "")
        text = cap_text(redact(body) + more, tokens)
        return ToolResult(text, "ok", f"{path}: {len(shown)} of {len(lines)} lines",
                          {"output": text})

    def search(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        argv = ["git", "grep", "-n", "-I", "-E", "--max-count", str(MAX_MATCHES)]
        if arguments.get("ignore_case"):
            argv.append("-i")
        argv += ["-e", str(arguments["pattern"]), "--", str(arguments.get("path") or ".")]
        result = sandbox.exec(argv, timeout=command_timeout)
        if result.exit_code == 1 and not result.stderr.text.strip():
            return ToolResult("no match", "no_data", "no match", {})
        return execute_result(result)

    def execute_result(result: ExecResult) -> ToolResult:
        text = cap_text(_exec_text(result, redact), tokens)
        return ToolResult(text, "ok" if result.ok else "error", text.splitlines()[1],
                          {"output": text, "exit_code": result.exit_code})

    def list_files(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        return execute(sandbox, ["git", "ls-files", "--", str(arguments.get("path") or ".")],
                       command_timeout)

    def run_command(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        argv = arguments["argv"]
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            return error("argv must be a non-empty array of strings, e.g. [\"pytest\", \"-x\"]")
        return execute(sandbox, argv, float(arguments.get("timeout_seconds", command_timeout)))

    def edited(path: str) -> None:
        if path not in session.edited:
            session.edited.append(path)

    def write_file(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        path, content = str(arguments["path"]), str(arguments["content"])
        if _in_git_dir(path):
            return error(f"refused: {path} is git's own data, not a file of the repository")
        sandbox.write_file(path, content)
        edited(path)
        message = f"wrote {path} ({len(content.encode())} bytes)"
        return ToolResult(message, "ok", message, {})

    def replace_in_file(sandbox: Sandbox, arguments: dict[str, Any]) -> ToolResult:
        path, old, new = str(arguments["path"]), str(arguments["old"]), str(arguments["new"])
        if _in_git_dir(path):
            return error(f"refused: {path} is git's own data, not a file of the repository")
        text = sandbox.read_file(path)
        found = text.count(old) if old else 0
        if found != 1:
            return error(f"`old` must occur exactly once in {path}; it occurs {found} times"
                         + ("" if found else " (copy it exactly, whitespace included)"))
        sandbox.write_file(path, text.replace(old, new, 1))
        edited(path)
        message = f"replaced 1 occurrence in {path}"
        return ToolResult(message, "ok", message, {})

    def show_diff(_sandbox: Sandbox, _arguments: dict[str, Any]) -> ToolResult:
        diff = session.diff()
        text = cap_text(redact(diff), tokens) if diff else "no edits yet"
        return ToolResult(text, "ok", f"{diff.count(chr(10))} diff lines", {"diff": diff})

    path = {"type": "string", "description": "relative to the repository root"}

    def schema(properties: dict[str, Any], *required: str) -> dict[str, Any]:
        return {"type": "object", "properties": properties, "required": list(required),
                "additionalProperties": False}

    return [
        ModelTool("read_file", "Read a file of the service's repository at the deployed commit "
                  "(numbered lines).", schema({"path": path, "start_line": {"type": "integer",
                  "minimum": 1}, "max_lines": {"type": "integer", "minimum": 1,
                  "maximum": MAX_READ_LINES}}, "path"), guarded(read_file), sandbox=True),
        ModelTool("search_code", "Search the repository with git grep (extended regex); "
                  "file:line:text matches.", schema({"pattern": {"type": "string"}, "path": path,
                  "ignore_case": {"type": "boolean"}}, "pattern"), guarded(search), sandbox=True),
        ModelTool("list_files", "List the repository's tracked files under a path.",
                  schema({"path": path}), guarded(list_files), sandbox=True),
        ModelTool("run_command", "Run a command in the checkout (no network, no credentials, "
                  "resource limits), e.g. the tests. Output is cut in the middle when long.",
                  schema({"argv": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                          "timeout_seconds": {"type": "number", "minimum": 1,
                                              "maximum": command_timeout}}, "argv"),
                  guarded(run_command), sandbox=True),
        ModelTool("write_file", "Write a whole file of the checkout (for a forward fix). "
                  "Nothing is committed, pushed or deployed.",
                  schema({"path": path, "content": {"type": "string"}}, "path", "content"),
                  guarded(write_file), sandbox=True, mutates=True),
        ModelTool("replace_in_file", "Replace one exact, unique occurrence of `old` with `new` "
                  "in a file of the checkout (for a forward fix).",
                  schema({"path": path, "old": {"type": "string"}, "new": {"type": "string"}},
                         "path", "old", "new"),
                  guarded(replace_in_file), sandbox=True, mutates=True),
        ModelTool("show_diff", "Your edits so far (write_file / replace_in_file), as a unified "
                  "diff: what a forward fix would be.", schema({}),
                  guarded(show_diff), sandbox=True),
    ]
