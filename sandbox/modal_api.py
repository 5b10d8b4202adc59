"""The small surface of the `modal` package the Modal backend uses, as protocols.

`modal` itself satisfies `ModalAPI` (mypy checks this where the backend defaults to the real
module), and so does the in-process fake the tests drive the backend with. Images and apps are
opaque here (`Any`): the backend only passes them back to Modal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol


class RemoteProcess(Protocol):
    """The part of `modal.container_process.ContainerProcess[bytes]` we use."""

    @property
    def stdout(self) -> Iterable[bytes]:
        """Output chunks as they come."""
        ...

    @property
    def stderr(self) -> Iterable[bytes]:
        """Error output chunks as they come."""
        ...

    def wait(self) -> int:
        """Exit code; -1 when the exec timed out."""
        ...


class RemoteFilesystem(Protocol):
    """The part of `modal.sandbox.SandboxFilesystem` we use."""

    def read_bytes(self, remote_path: str, /) -> bytes:
        """A whole file."""
        ...

    def write_bytes(self, data: bytes, remote_path: str, /) -> None:
        """Replace a file (parents created)."""
        ...

    def copy_from_local(self, local_path: str, remote_path: str, /) -> None:
        """Upload a local file."""
        ...


class RemoteSandbox(Protocol):
    """The part of `modal.Sandbox` we use."""

    @property
    def object_id(self) -> str:
        """Modal's id (sb-…)."""
        ...

    @property
    def filesystem(self) -> RemoteFilesystem:
        """File API."""
        ...

    def exec(self, *args: str, timeout: int | None = None, workdir: str | None = None,
             env: dict[str, str | None] | None = None,
             text: Literal[False] = False) -> RemoteProcess:
        """Start a command."""
        ...

    def snapshot_filesystem(self, timeout: int = 55) -> Any:
        """An Image of the current filesystem."""
        ...

    def terminate(self) -> None:
        """Stop the sandbox."""
        ...


class SandboxFactory(Protocol):
    """`modal.Sandbox` as a class: its constructor."""

    def create(self, *args: str, app: Any = None, image: Any = None, timeout: int | None = 300,
               workdir: str | None = None, cpu: float | None = None,
               memory: int | tuple[int, int] | None = None,
               block_network: bool = False, outbound_domain_allowlist: Sequence[str] | None = None,
               env: dict[str, str | None] | None = None) -> RemoteSandbox:
        """A new running sandbox."""
        ...


class ImageFactory(Protocol):
    """`modal.Image` as a class."""

    def from_id(self, image_id: str, /) -> Any:
        """An image built before, by id."""
        ...

    def debian_slim(self, python_version: str | None = None) -> Any:
        """Modal's default base image."""
        ...


class AppFactory(Protocol):
    """`modal.App` as a class."""

    def lookup(self, name: str, /, *, create_if_missing: bool = False) -> Any:
        """A deployed app, created on first use."""
        ...


class ModalAPI(Protocol):
    """What of the `modal` module this backend touches: the module itself, or a fake."""

    @property
    def Sandbox(self) -> SandboxFactory:
        """modal.Sandbox."""
        ...

    @property
    def Image(self) -> ImageFactory:
        """modal.Image."""
        ...

    @property
    def App(self) -> AppFactory:
        """modal.App."""
        ...
