"""Host-side git: bounded in time, never prompting, and credentials kept out of every message."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from sandbox.base import SandboxUnavailable, WorkspaceError
from sandbox.process import run_bounded

# user:password@ or token@ in URLs: kept in the mirror's config, never in a message.
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
# A revision as an engineer or a deploy record writes it; never an option (`--upload-pack=…`).
_REVISION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/^~@{}+-]*$")
_MESSAGE_LIMIT = 4000


def redact(text: str) -> str:
    """`text` with the userinfo of every URL in it replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def check_revision(revision: str) -> str:
    """`revision` if it is a plain revision name; a WorkspaceError otherwise."""
    if not _REVISION.match(revision) or ".." in revision:
        raise WorkspaceError(f"not a commit or ref name: {revision!r}")
    return revision


def git_binary() -> str:
    """The git executable; SandboxUnavailable if there is none."""
    found = shutil.which("git")
    if found is None:
        raise SandboxUnavailable("git is not installed (apt-get install git)")
    return found


def isolated_env() -> dict[str, str]:
    """Environment for git on local repositories: no system or global config."""
    # Nothing of the host's config (filters, hook paths, helpers) may apply to repository content.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": "/nonexistent",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


def network_env() -> dict[str, str]:
    """Environment for fetching: the host's config and credential helpers, never a prompt."""
    # The control plane owns the credentials; a fetch only writes into the bare mirror.
    return {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0",
            "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}


def run_git(args: Sequence[str], *, timeout: float, env: dict[str, str],
            cwd: Path | None = None, what: str = "git") -> str:
    """Run git; its stdout, or a WorkspaceError with git's own (redacted) message."""
    argv = [git_binary(), *args]
    result = run_bounded(argv, timeout=timeout, output_limit=1 << 20, env=env, cwd=cwd)
    if result.timed_out:
        raise WorkspaceError(f"{what} timed out after {timeout:g} s: {redact(' '.join(args))}")
    if result.exit_code != 0:
        message = (result.stderr.text.strip() or result.stdout.text.strip())[-_MESSAGE_LIMIT:]
        raise WorkspaceError(f"{what} failed (exit {result.exit_code}): {redact(message)}")
    return result.stdout.text
