"""`triage serve`, `worker`, `run` and `demo`: investigations, live or replayed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from triage.replay import ReplayOutcome
    from triage.runtime import Runtime

# The values of triage.models.Source (tests/test_cli.py keeps them equal), spelled out here so
# that `--help` does not import pydantic and the models.
SOURCES = ("pagerduty", "alertmanager", "datadog")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the `triage` app."""
    for command in (serve, worker, run, demo):
        app.command()(command)


def _runtime() -> Runtime:
    from triage.config import ConfigError, Settings
    from triage.runtime import Runtime

    try:
        return Runtime.from_settings(Settings())
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    worker: Annotated[bool, typer.Option(help="also run investigations in this process")] = True,
    processes: Annotated[int, typer.Option(
        min=1, max=64, help="API processes sharing the port (more than 1: the worker, if any, "
        "runs in a process of its own)")] = 1,
) -> None:
    """Accept webhooks and serve reports (with an in-process worker unless --no-worker)."""
    import os

    import uvicorn

    from triage.app import create_app

    runtime = _runtime()  # the schema is brought up to date here, once, before any child starts
    if "public_url" not in runtime.settings.model_fields_set:
        # Report links must point somewhere that answers; without TRIAGE_PUBLIC_URL, that is us.
        runtime.settings.public_url = f"http://{host}:{port}"
        os.environ["TRIAGE_PUBLIC_URL"] = runtime.settings.public_url  # for child processes
    store = runtime.store.engine.url.render_as_string(hide_password=True)
    if processes == 1:
        typer.echo(f"triage serving on http://{host}:{port} (worker: {'yes' if worker else 'no'}; "
                   f"store: {store})")
        uvicorn.run(create_app(runtime, run_worker=worker), host=host, port=port,
                    log_level="info")
        return
    import logging

    from triage.serving import Supervisor, listen

    runtime.close()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    sock = listen(host, port)
    typer.echo(f"triage serving on http://{host}:{port} ({processes} API processes; worker: "
               f"{'a process of its own' if worker else 'no'}; store: {store})")
    raise typer.Exit(Supervisor(sock, processes, worker).run())


def worker(
    metrics_port: Annotated[int | None, typer.Option(help="serve /metrics on this port")] = None,
    metrics_host: Annotated[str, typer.Option(help="interface for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run investigations from the shared queue until interrupted (any number, any machine)."""
    from triage.worker import run_until_signalled

    runtime = _runtime()

    def started() -> None:
        if metrics_port is not None:  # stage, model and sandbox metrics of this worker's own runs
            from prometheus_client import start_http_server

            start_http_server(metrics_port, metrics_host, registry=runtime.metrics.registry)
        typer.echo(f"worker {runtime.settings.worker_id} running; Ctrl-C to stop")

    run_until_signalled(runtime, started)


def print_outcome(outcome: ReplayOutcome, link_note: str = "") -> None:
    """The headline, ranked hypotheses, fix and where the report is, as `run` and `demo` print."""
    from triage.fix.summary import describe_fix

    report = outcome.report
    typer.secho(f"\n{report.alert['title']}", bold=True)
    typer.echo(f"service: {report.service or 'unmapped'} · state: {report.state} · "
               f"brain: {report.brain} · playbook: {report.playbook}")
    typer.echo(f"summary: {report.summary}")
    if report.error:
        typer.secho(f"error: {report.error}", fg="red")
    hypotheses = report.findings.hypotheses if report.findings else []
    for rank, hypothesis in enumerate(hypotheses, 1):
        typer.echo(f"  {rank}. [{hypothesis.category}] {hypothesis.title} "
                   f"({hypothesis.confidence:.0%})")
    typer.echo(f"{len(report.queries)} queries, {len(report.signals)} signals")
    for line in describe_fix(report.fix):  # reproduction, culprit, verified fix and where it is
        typer.echo(line)
    typer.echo(f"report: {outcome.html_path}\n        {outcome.markdown_path}")
    typer.echo(f"link: {report.report_url}{link_note}")


def guess_source(body: bytes) -> str | None:
    """Which webhook a body looks like it came from, by its top-level keys (None: can't tell)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    if "event" in payload or "messages" in payload:
        return "pagerduty"
    if "alerts" in payload and ("groupKey" in payload or "receiver" in payload):
        return "alertmanager"
    if "alert_id" in payload or "event_type" in payload or "alert_transition" in payload:
        return "datadog"
    return None


def run(
    alert_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[str, typer.Option(
        help=f"which webhook the body came from: {', '.join(SOURCES)}")] = "pagerduty",
) -> None:
    """Investigate one alert body in process (through the real webhook route) and print findings;
    an Alertmanager group gives one investigation and one report per alert."""
    from triage.config import ConfigError, Settings, load_config
    from triage.models import Source
    from triage.replay import ReplayError, replay_all
    from triage.runtime import _config_path

    if source not in SOURCES:
        typer.secho(f"--source {source!r}: one of {', '.join(SOURCES)}", fg="red", err=True)
        raise typer.Exit(2)
    body = alert_file.read_bytes()
    settings = Settings()
    try:
        config = load_config(_config_path(settings))
        outcomes = replay_all(settings, config, Source(source), body)
    except (ConfigError, ReplayError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        guessed = guess_source(body)
        if isinstance(exc, ReplayError) and guessed not in (None, source):
            typer.secho(f"hint: this body looks like a{'n' if guessed[0] == 'a' else ''} "
                        f"{guessed} webhook: try `triage run --source {guessed} {alert_file}`",
                        fg="yellow", err=True)
        raise typer.Exit(1) from exc
    for outcome in outcomes:
        print_outcome(outcome)


def demo_bundle() -> Path:
    """The scenario bundle shipped with the package."""
    from importlib import resources

    return Path(str(resources.files("triage") / "demo" / "checkout-bad-deploy"))


def demo() -> None:
    """Replay the bundled incident (a checkout service breaking after a deploy), offline."""
    from triage.config import Settings
    from triage.replay import ReplayError
    from triage.scenarios import ScenarioError, run_scenario

    settings = Settings()
    # Each run keeps its own directory (its store and reports), so a new run deletes nothing.
    workdir = _fresh_run_dir((settings.data_dir / "demo").resolve())
    try:
        scenario, outcome = run_scenario(demo_bundle(), settings, keep_dir=workdir)
    except (ScenarioError, ReplayError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"demo: {scenario.description.strip()}")
    print_outcome(outcome, link_note=(
        f"\n      (the link opens under `TRIAGE_DATA_DIR={workdir} triage serve`; "
        "the report files above open as they are)"))


def _fresh_run_dir(parent: Path) -> Path:
    """A new numbered directory under `parent` (run-1, run-2, ...), never one that exists."""
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[4:]) for p in parent.glob("run-*") if p.name[4:].isdigit()]
    number = max(taken, default=0) + 1
    while True:
        try:
            (path := parent / f"run-{number}").mkdir()
            return path
        except FileExistsError:  # another demo started at the same moment
            number += 1
