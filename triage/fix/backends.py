"""Which sandbox backend runs reproductions, where its repository cache lives, and where a
service's repository is."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from pathlib import Path

from sandbox.base import SandboxBackend, SandboxUnavailable
from sandbox.workspace import Workspace

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://|^[\w.-]+@[\w.-]+:")


def sandbox_root(configured: Path | None, data_dir: Path) -> Path:
    """The cache of mirrors and sandboxes: `TRIAGE_SANDBOX_DIR`, else `<data dir>/sandbox`.

    As root, sandboxes run as `nobody`, which must traverse every directory above the cache. When
    the default is out of its reach (a data dir under /root, pytest's 0700 temp dirs), a private
    directory of ours in the system temp dir is used instead."""
    if configured is not None:
        return configured.resolve()
    default = (data_dir / "sandbox").resolve()
    if os.geteuid() != 0 or _traversable(default):
        return default
    return _private_temp_root()


def make_backend(kind: str, root: Path) -> SandboxBackend:
    """The backend named in triage.yaml (`local` or `modal`), caching repositories under `root`."""
    workspace = Workspace(root)
    if kind == "local":
        from sandbox.local import LocalBackend

        return LocalBackend(workspace)
    if kind == "modal":
        from sandbox.modal import ModalBackend  # imports modal: only when configured

        return ModalBackend(workspace)
    raise SandboxUnavailable(f"no sandbox backend {kind!r}: set `sandbox: local` or `modal`")


def repository_source(repository: str, base_dir: Path) -> str:
    """A URL as is; a path (a repository or a .bundle file) relative to triage.yaml's directory."""
    if _URL.match(repository):
        return repository
    path = Path(repository).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _traversable(path: Path) -> bool:
    """Every existing directory above `path` lets other users through (o+x)."""
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents if parent.exists())


def _private_temp_root() -> Path:
    """`<tmp>/triage-sandbox-<uid>`, ours alone to write (a planted one is refused)."""
    root = Path(tempfile.gettempdir()) / f"triage-sandbox-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o711)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise SandboxUnavailable(
            f"{root} is not a directory that only this user can write; remove it, or set "
            "TRIAGE_SANDBOX_DIR to a directory every user can traverse (chmod o+x)")
    root.chmod(0o711)  # nobody traverses it; only we list or write it
    return root
