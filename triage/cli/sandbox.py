"""`triage sandbox run`: the on-call engineer runs a command exactly as a reproduction would, in the
same sandbox (a checkout of the commit from the cached mirror; no network, no host secrets)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sandbox.base import ExecResult, SandboxBackend

sandbox_app = typer.Typer(help="Run commands in a sandbox, by hand.", no_args_is_help=True)

TIMEOUT_EXIT = 124  # what timeout(1) returns, so scripts can tell a timeout from a failure


def _backend(name: str, cache_dir: Path) -> SandboxBackend:
    """The backend called `name`, caching repositories under `cache_dir`."""
    from sandbox.workspace import Workspace

    workspace = Workspace(cache_dir)
    if name == "local":
        from sandbox.local import LocalBackend

        return LocalBackend(workspace)
    if name == "modal":
        from sandbox.modal import ModalBackend  # imports modal: only when asked for

        return ModalBackend(workspace)
    typer.secho(f"unknown backend {name!r}: local or modal", fg="red", err=True)
    raise typer.Exit(2)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    """NAME=VALUE options as a mapping; exit 2 on a malformed one."""
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            typer.secho(f"--env takes NAME=VALUE, not {pair!r}", fg="red", err=True)
            raise typer.Exit(2)
        env[name] = value
    return env


def _print_result(result: ExecResult) -> None:
    """Both streams (saying when one was truncated), then the exit code and duration."""
    state = (f"timed out after {result.duration_seconds:.2f} s" if result.timed_out
             else f"exit {result.exit_code} in {result.duration_seconds:.2f} s")
    for name, output in (("stdout", result.stdout), ("stderr", result.stderr)):
        if not output.original_bytes:
            continue
        note = (f" (truncated in the middle: {output.original_bytes} bytes, kept head and tail)"
                if output.truncated else f" ({output.original_bytes} bytes)")
        typer.secho(f"── {name}{note}", bold=True)
        typer.echo(output.text, nl=not output.text.endswith("\n"))
    typer.secho(f"── {state}", fg="green" if result.ok else "red", bold=True)


@sandbox_app.command(
    "run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Check out REPO at COMMIT in a fresh sandbox, run `-- CMD...` in it, print what it "
         "did. Exits with the command's exit code (124 on timeout, 2 if no sandbox could be made).")
def run(
    ctx: typer.Context,
    repo: Annotated[str, typer.Option(help="repository: a path, a .bundle file or a git URL")],
    commit: Annotated[str, typer.Option(help="commit (SHA, branch or tag) to check out")],
    backend: Annotated[str, typer.Option(help="local (bubblewrap) or modal")] = "local",
    timeout: Annotated[float, typer.Option(help="wall-clock limit in seconds")] = 300.0,
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="NAME=VALUE passed to the command (repeatable; nothing else is)")] = None,
    output_bytes: Annotated[int, typer.Option(help="per stream; longer output is cut "
                                                   "in the middle")] = 64 * 1024,
    cache_dir: Annotated[Path | None, typer.Option(
        help="mirror cache (default: $TRIAGE_DATA_DIR/sandbox)")] = None,
) -> None:
    """Run one command in a fresh sandbox and report what it did."""
    from sandbox.base import Limits, RepoSpec, SandboxError
    from sandbox.git import redact
    from triage.config import Settings

    command = list(ctx.args)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        typer.secho("no command: triage sandbox run --repo R --commit C -- CMD...", fg="red", err=True)
        raise typer.Exit(2)
    cache = cache_dir or Settings().data_dir / "sandbox"
    spec = RepoSpec(source=repo, commit=commit, env=_parse_env(env or []))
    limits = Limits(timeout_seconds=timeout, output_bytes=output_bytes)
    try:
        sandbox = _backend(backend, cache.resolve()).prepare(spec, limits)
    except (SandboxError, ValueError) as exc:
        typer.secho(f"sandbox: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.secho(f"── {backend} sandbox: {redact(repo)} @ {sandbox.commit}: {' '.join(command)}",
                bold=True, err=True)
    try:
        result = sandbox.exec(command)
    except SandboxError as exc:
        typer.secho(f"sandbox: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    finally:
        sandbox.close()
    _print_result(result)
    if not result.ok:
        raise typer.Exit(TIMEOUT_EXIT if result.timed_out else (result.exit_code or 1))
