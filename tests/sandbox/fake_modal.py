"""An in-process stand-in for the few parts of the `modal` package the Modal backend uses
(`sandbox.modal_api.ModalAPI`): it records every call and answers commands through a handler,
so tests can check the lifecycle and the exact commands without reaching Modal."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import modal.exception

# A command's answer: (stdout, stderr, exit code); exit code -1 is Modal's "exec timed out".
Answer = tuple[bytes, bytes, int]
Handler = Callable[["FakeSandbox", list[str]], Answer]


def ok_handler(sandbox: FakeSandbox, args: list[str]) -> Answer:
    """Every command succeeds silently."""
    return b"", b"", 0


@dataclass
class FakeImage:
    """An image, known by id (built ones carry what they were built from)."""

    object_id: str
    packages: tuple[str, ...] = ()

    def apt_install(self, *packages: str) -> FakeImage:
        return FakeImage(f"{self.object_id}+apt", self.packages + packages)


class FakeProcess:
    """A finished command: output in small chunks, as Modal streams it."""

    def __init__(self, answer: Answer, chunk: int = 4096) -> None:
        self._out, self._err, self._code = answer
        self._chunk = chunk

    def _chunks(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), self._chunk):
            yield data[start:start + self._chunk]

    @property
    def stdout(self) -> Iterator[bytes]:
        return self._chunks(self._out)

    @property
    def stderr(self) -> Iterator[bytes]:
        return self._chunks(self._err)

    def wait(self) -> int:
        return self._code


class FakeFilesystem:
    """Files of one fake sandbox, by absolute path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read_bytes(self, remote_path: str, /) -> bytes:
        if remote_path not in self.files:
            raise modal.exception.SandboxFilesystemNotFoundError(f"{remote_path}: not found")
        return self.files[remote_path]

    def write_bytes(self, data: bytes, remote_path: str, /) -> None:
        self.files[remote_path] = bytes(data)

    def copy_from_local(self, local_path: str, remote_path: str, /) -> None:
        self.files[remote_path] = Path(local_path).read_bytes()


@dataclass
class FakeSandbox:
    """One created sandbox and everything done to it."""

    object_id: str
    args: tuple[str, ...]
    options: dict[str, Any]
    handler: Handler
    filesystem: FakeFilesystem = field(default_factory=FakeFilesystem)
    execs: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)
    snapshots: list[FakeImage] = field(default_factory=list)
    terminated: int = 0
    raise_on_exec: BaseException | None = None

    def exec(self, *args: str, timeout: int | None = None, workdir: str | None = None,
             env: dict[str, str | None] | None = None,
             text: Literal[False] = False) -> FakeProcess:
        if self.terminated:
            raise modal.exception.SandboxTerminatedError("sandbox was terminated")
        self.execs.append((list(args), {"timeout": timeout, "workdir": workdir, "env": env,
                                        "text": text}))
        if self.raise_on_exec is not None:
            raise self.raise_on_exec
        return FakeProcess(self.handler(self, list(args)))

    def snapshot_filesystem(self, timeout: int = 55) -> FakeImage:
        image = FakeImage(f"im-snapshot-of-{self.object_id}")
        self.snapshots.append(image)
        return image

    def terminate(self) -> None:
        self.terminated += 1


class _SandboxClass:
    def __init__(self, owner: FakeModal) -> None:
        self._owner = owner

    def create(self, *args: str, app: Any = None, image: Any = None, timeout: int | None = 300,
               workdir: str | None = None, cpu: float | None = None,
               memory: int | tuple[int, int] | None = None,
               block_network: bool = False, outbound_domain_allowlist: Sequence[str] | None = None,
               env: dict[str, str | None] | None = None) -> FakeSandbox:
        if self._owner.create_error is not None:
            raise self._owner.create_error
        sandbox = FakeSandbox(
            object_id=f"sb-{next(self._owner.ids)}", args=args,
            options={"app": app, "image": image, "timeout": timeout, "workdir": workdir,
                     "cpu": cpu, "memory": memory, "block_network": block_network,
                     "outbound_domain_allowlist": outbound_domain_allowlist, "env": env},
            handler=self._owner.handler)
        self._owner.sandboxes.append(sandbox)
        return sandbox


class _ImageClass:
    def __init__(self, owner: FakeModal) -> None:
        self._owner = owner

    def from_id(self, image_id: str, /) -> FakeImage:
        self._owner.loaded_images.append(image_id)
        return FakeImage(image_id)

    def debian_slim(self, python_version: str | None = None) -> FakeImage:
        return FakeImage("im-debian-slim")


class _AppClass:
    def __init__(self, owner: FakeModal) -> None:
        self._owner = owner

    def lookup(self, name: str, /, *, create_if_missing: bool = False) -> str:
        self._owner.app_lookups.append((name, create_if_missing))
        return f"app:{name}"


class FakeModal:
    """The fake module: `Sandbox`, `Image`, `App`, and a log of what was done."""

    def __init__(self, handler: Handler = ok_handler) -> None:
        self.handler = handler
        self.ids = itertools.count(1)
        self.sandboxes: list[FakeSandbox] = []
        self.loaded_images: list[str] = []
        self.app_lookups: list[tuple[str, bool]] = []
        self.create_error: BaseException | None = None
        self.Sandbox = _SandboxClass(self)
        self.Image = _ImageClass(self)
        self.App = _AppClass(self)
