"""The bubblewrap command line: what a local sandbox can see, and what it cannot.

Inside: the host's /usr (and the /bin, /lib… links or directories) read-only, a handful of
harmless /etc files, a generated passwd/group/hosts, fresh /proc and /dev, a private /tmp, the
checkout read-write at /workspace, and the mirror's objects read-only at their host path (the
checkout's alternates name it). Nothing else of the host filesystem exists there.

Namespaces: user (uid 1000 inside, no capabilities, no nested user namespaces), pid (killing its
init kills every process in it), network (only a loopback of its own), ipc, uts, cgroup.
The environment is cleared and rebuilt from an explicit allowlist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.base import Limits

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WORKSPACE = "/workspace"
TMP = "/tmp"  # noqa: S108 -- the sandbox's own tmpfs, not the host's /tmp
SANDBOX_UID = 1000
SANDBOX_GID = 1000
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Host /etc entries a build may need and that hold no secrets (no passwd/shadow, no ssh, no
# gitconfig with credential helpers, no resolv.conf: there is no network anyway).
ETC_ALLOWLIST = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
                 "os-release", "debian_version", "mime.types", "protocols", "services")
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": TMP, "LANG": "C.UTF-8", "TMPDIR": TMP}
GENERATED_ETC = {
    "passwd": f"root:x:0:0::/root:/bin/sh\nsandbox:x:{SANDBOX_UID}:{SANDBOX_GID}::/tmp:/bin/sh\n"
              "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    "group": f"root:x:0:\nsandbox:x:{SANDBOX_GID}:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
    "hostname": "sandbox\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}


@dataclass(frozen=True)
class Layout:
    """Host paths a sandbox is built from."""

    workspace: Path  # bound read-write at /workspace
    etc: Path  # the generated files of GENERATED_ETC
    readonly: tuple[Path, ...] = ()  # bound read-only at the same path (mirror objects, toolchains)


def write_etc(directory: Path) -> None:
    """Write the sandbox's own passwd, group, hosts… into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in GENERATED_ETC.items():
        (directory / name).write_text(text)


def sandbox_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a sandboxed command: the base allowlist plus `extra`."""
    for name in extra:
        if not _ENV_NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
    return {**BASE_ENV, **extra}


def bwrap_argv(bwrap: str, prlimit: str, layout: Layout, limits: Limits,
               env: Mapping[str, str], command: Sequence[str], info_fd: int) -> list[str]:
    """The full argv: bwrap, its mounts and namespaces, then prlimit, then `command`."""
    # bwrap writes {"child-pid": N} to `info_fd`: N is the sandbox's init, the process to kill.
    argv = [bwrap, "--info-fd", str(info_fd), "--unshare-user", "--unshare-pid", "--unshare-net",
            "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--disable-userns",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID), "--hostname", "sandbox",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += _system_mounts() + _etc_mounts(layout.etc)
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.memory_bytes), "--tmpfs", TMP,
             "--symlink", TMP, "/var/tmp"]  # noqa: S108 -- inside the sandbox
    for path in layout.readonly:
        argv += ["--ro-bind", str(path), str(path)]
    argv += ["--bind", str(layout.workspace), WORKSPACE,
             # The root is bwrap's own tmpfs (mount points, /etc): read-only too, once built.
             "--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    argv += ["--", prlimit, *_rlimits(limits), "--", *command]
    return argv


def probe_argv(bwrap: str) -> list[str]:
    """The smallest sandbox with the same namespaces: does this machine allow them?"""
    return [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--disable-userns", "--uid", str(SANDBOX_UID),
            "--gid", str(SANDBOX_GID), "--die-with-parent", *_system_mounts(),
            "--proc", "/proc", "--dev", "/dev", "--", "true"]


def _system_mounts() -> list[str]:
    """/usr read-only; /bin, /lib… as the host has them (merged-/usr links or directories)."""
    args: list[str] = []
    for name in SYSTEM_DIRS:
        host = Path("/", name)
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC_ALLOWLIST:
        host = Path("/etc", name)
        args += ["--ro-bind-try", str(host), str(host)]
    return args


def _etc_mounts(etc: Path) -> list[str]:
    """The generated /etc files, read-only."""
    return [arg for name in GENERATED_ETC
            for arg in ("--ro-bind", str(etc / name), f"/etc/{name}")]


def _rlimits(limits: Limits) -> list[str]:
    """prlimit options: soft = hard, so the command cannot raise them back."""
    return [f"--nproc={limits.max_processes}", f"--as={limits.memory_bytes}",
            f"--cpu={limits.cpu_seconds}", "--core=0"]
