"""SRE auto-triage on Modal: the API as an ASGI web endpoint, the workers as long-running functions
with stable ids, and reproduction sandboxes in the same app. State and the queue live in a
PostgreSQL reachable from Modal (`TRIAGE_DATABASE_URL`); Modal itself keeps nothing.

    modal secret create triage-secrets TRIAGE_DATABASE_URL=postgresql://… \\
        TRIAGE_PUBLIC_URL=https://<workspace>--triage.modal.run TRIAGE_PAGERDUTY_WEBHOOK_SECRETS=… …
    TRIAGE_MODAL_CONFIG=triage.yaml modal deploy infra/modal_app.py
    modal run infra/modal_app.py::keep_workers      # start the workers now (else within a minute)

Workers: `keep_workers` runs every minute and keeps one `worker(slot)` call alive per slot
(`TRIAGE_MODAL_WORKERS`, default 2). Slot n runs as TRIAGE_WORKER_ID `modal-<n>`, so the call
that replaces a dead or expired one resumes its unfinished investigations. A call ends itself
after `WORKER_SECONDS` (Modal caps a call's duration) and is replaced on the next tick; after a
deploy, `modal run infra/modal_app.py::restart_workers` moves the workers to the new code.

Importing this file needs no network and no Modal credentials (everything Modal is lazy), which
tests/infra/test_modal_app.py checks; the triage package is imported inside the functions only.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import modal

if TYPE_CHECKING:
    from sandbox.modal import ModalBackend
    from triage.config import Settings

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = os.environ.get("TRIAGE_MODAL_APP", "sre-triage")
SECRET_NAME = os.environ.get("TRIAGE_MODAL_SECRET", "triage-secrets")
WORKER_SLOTS = int(os.environ.get("TRIAGE_MODAL_WORKERS", "2"))
WORKER_SECONDS = 6 * 3600  # a worker call hands over to a fresh one after this long
CONFIG_PATH = "/etc/triage/triage.yaml"
PACKAGES = ("triage", "connectors", "sandbox", "playbooks")  # pyproject's packages.find include
WORKER_CALLS = f"{APP_NAME}-worker-calls"  # modal.Dict: slot -> FunctionCall id


def build_image(config: Path | None) -> modal.Image:
    """Debian slim + git + this package installed from the working tree (+ triage.yaml)."""
    image = modal.Image.debian_slim(python_version="3.11").apt_install("git", "ca-certificates")
    for name in ("pyproject.toml", "README.md"):
        image = image.add_local_file(ROOT / name, f"/src/{name}", copy=True)
    for package in PACKAGES:
        image = image.add_local_dir(ROOT / package, f"/src/{package}", copy=True,
                                    ignore=["**/__pycache__", "**/*.pyc"])
    # Scratch space only (the sandbox repository cache): a container is single-tenant and all
    # state is in PostgreSQL.
    env = {"TRIAGE_DATA_DIR": "/tmp/triage", "PYTHONUNBUFFERED": "1"}  # noqa: S108
    if config is not None:
        env["TRIAGE_CONFIG"] = CONFIG_PATH
    image = image.run_commands("pip install --no-cache-dir /src").env(env)
    if config is not None:
        # Last, and not copied: a configuration change redeploys without rebuilding the image.
        image = image.add_local_file(config, CONFIG_PATH)
    return image


def _deploy_config() -> Path | None:
    """triage.yaml to ship (`TRIAGE_MODAL_CONFIG` at deploy time), if any."""
    value = os.environ.get("TRIAGE_MODAL_CONFIG")
    return Path(value).resolve() if value else None


app = modal.App(APP_NAME)
image = build_image(_deploy_config())
secrets = [modal.Secret.from_name(SECRET_NAME)]
# Modal imports this file again inside each container: hand it the deploy-time choices.
runtime_env: dict[str, str | None] = {"TRIAGE_MODAL_APP": APP_NAME,
                                      "TRIAGE_MODAL_WORKERS": str(WORKER_SLOTS)}


@app.function(image=image, secrets=secrets, env=runtime_env, min_containers=1, timeout=600)
@modal.concurrent(max_inputs=200)
@modal.asgi_app(label="triage")
def api() -> Any:
    """The FastAPI app: webhooks, reports, JSON API; investigations run on the workers."""
    from triage.app import create_app
    from triage.config import Settings
    from triage.runtime import Runtime

    return create_app(Runtime.from_settings(Settings()), run_worker=False)


@app.function(image=image, secrets=secrets, env=runtime_env, timeout=WORKER_SECONDS + 600,
              cpu=2.0, memory=2048)
def worker(slot: int) -> str:
    """Run investigations from the queue as worker `modal-<slot>` for WORKER_SECONDS."""
    return run_worker(slot, WORKER_SECONDS)


@app.function(image=image, secrets=secrets, env=runtime_env, schedule=modal.Period(minutes=1),
              max_containers=1)
def keep_workers() -> list[int]:
    """Start a worker call for every slot whose call is missing or finished."""
    calls = modal.Dict.from_name(WORKER_CALLS, create_if_missing=True)
    known = {slot: calls.get(slot) for slot in range(WORKER_SLOTS)}
    started = slots_to_start(WORKER_SLOTS, known, call_running)
    for slot in started:
        calls[slot] = worker.spawn(slot).object_id
    return started


@app.function(image=image, secrets=secrets, env=runtime_env, max_containers=1)
def restart_workers() -> list[int]:
    """Cancel every worker call; `keep_workers` starts replacements (same ids) on its next tick."""
    calls = modal.Dict.from_name(WORKER_CALLS, create_if_missing=True)
    cancelled = []
    for slot in range(WORKER_SLOTS):
        call_id = calls.get(slot)
        if call_id and call_running(call_id):
            modal.FunctionCall.from_id(call_id).cancel()
            cancelled.append(slot)
    return cancelled


def worker_id(slot: int) -> str:
    """The stable TRIAGE_WORKER_ID of a slot."""
    return f"modal-{slot}"


def run_worker(slot: int, seconds: float, stop: threading.Event | None = None,
               settings: Settings | None = None) -> str:
    """Launch a triage worker as slot `slot`; stop it after `seconds` or when `stop` is set."""
    from triage.config import Settings
    from triage.runtime import Runtime
    from triage.worker import launch_worker, stop_worker

    base = settings if settings is not None else Settings()
    runtime = Runtime.from_settings(base.model_copy(update={"worker_id": worker_id(slot)}))
    launch_worker(runtime)
    try:
        (stop or threading.Event()).wait(seconds)
    finally:
        stop_worker()
        runtime.close()
    return runtime.settings.worker_id


def slots_to_start(slots: int, calls: Mapping[int, str | None],
                   running: Callable[[str], bool]) -> list[int]:
    """Slots with no call recorded, or whose recorded call is no longer running."""
    return [slot for slot in range(slots)
            if not ((call_id := calls.get(slot)) and running(call_id))]


def call_running(call_id: str) -> bool:
    """Whether a spawned call is still running (no output yet)."""
    try:
        modal.FunctionCall.from_id(call_id).get(timeout=0)
    except TimeoutError:  # Python's own: no output yet. Modal's timeouts are not subclasses of it.
        return True
    except Exception:  # failed, cancelled, expired: any of them frees the slot
        return False
    return False


def sandbox_backend(cache_dir: Path) -> ModalBackend:
    """The Modal sandbox backend creating its sandboxes in this app (not a separate one)."""
    from sandbox.modal import ModalBackend
    from sandbox.workspace import Workspace

    return ModalBackend(Workspace(cache_dir), app_name=APP_NAME)
