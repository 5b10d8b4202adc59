"""`triage` — serve webhooks, run workers, investigate one alert, replay scenarios."""

from __future__ import annotations

import json
import signal
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from triage.agent.claude_settings import brain_status, model_problem
from triage.calibration import calibrate, format_calibration
from triage.cli_connectors import connectors_app, query
from triage.cli_playbooks import playbooks_app
from triage.cli_reports import check_lines, reports_app
from triage.cli_sandbox import sandbox_app
from triage.config import ConfigError, Settings, load_config
from triage.fix.summary import describe_fix
from triage.models import Source
from triage.replay import ReplayError, ReplayOutcome, replay
from triage.runtime import Runtime, _config_path
from triage.scenarios import ScenarioError, ScenarioResult, evaluate, find_bundles, run_scenario

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(connectors_app, name="connectors")
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(reports_app, name="reports")
app.command(name="query")(query)


def _runtime() -> Runtime:
    settings = Settings()
    try:
        return Runtime.from_settings(settings)
    except ConfigError as exc:
        typer.secho(f"configuration error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    worker: Annotated[bool, typer.Option(help="also run investigations in this process")] = True,
) -> None:
    """Accept webhooks and serve reports (with an in-process worker unless --no-worker)."""
    import uvicorn

    from triage.app import create_app

    runtime = _runtime()
    if "public_url" not in runtime.settings.model_fields_set:
        # Report links must point somewhere that answers; without TRIAGE_PUBLIC_URL, that is us.
        runtime.settings.public_url = f"http://{host}:{port}"
    typer.echo(f"triage serving on http://{host}:{port} (worker: {'yes' if worker else 'no'}; "
               f"store: {runtime.store.engine.url.render_as_string(hide_password=True)})")
    uvicorn.run(create_app(runtime, run_worker=worker), host=host, port=port, log_level="info")


@app.command()
def worker(
    metrics_port: Annotated[int | None, typer.Option(help="serve /metrics on this port")] = None,
    metrics_host: Annotated[str, typer.Option(help="interface for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run investigations from the shared queue until interrupted (any number, any machine)."""
    from triage.runtime import launch_worker, stop_worker

    runtime = _runtime()
    launch_worker(runtime)
    if metrics_port is not None:  # stage, model and sandbox metrics of this worker's own runs
        from prometheus_client import start_http_server

        start_http_server(metrics_port, metrics_host, registry=runtime.metrics.registry)
    typer.echo(f"worker {runtime.settings.worker_id} running; Ctrl-C to stop")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    stop_worker()
    runtime.close()


def _print_outcome(outcome: ReplayOutcome) -> None:
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
    typer.echo(f"link: {report.report_url}")


@app.command()
def run(
    alert_file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    source: Annotated[Source, typer.Option(help="which webhook the body came from")] = Source.PAGERDUTY,
) -> None:
    """Investigate one alert body in process (through the real webhook route) and print findings."""
    settings = Settings()
    try:
        config = load_config(_config_path(settings))
        outcome = replay(settings, config, source, alert_file.read_bytes())
    except (ConfigError, ReplayError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    _print_outcome(outcome)


def demo_bundle() -> Path:
    """The scenario bundle shipped with the package."""
    return Path(str(resources.files("triage") / "demo" / "checkout-bad-deploy"))


@app.command()
def demo() -> None:
    """Replay the bundled incident (a checkout service breaking after a deploy), offline."""
    settings = Settings()
    workdir = (settings.data_dir / "demo").resolve()
    if workdir.exists():
        import shutil

        shutil.rmtree(workdir)
    try:
        scenario, outcome = run_scenario(demo_bundle(), settings, keep_dir=workdir)
    except (ScenarioError, ReplayError) as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"demo: {scenario.description.strip()}")
    _print_outcome(outcome)


@app.command(name="eval")
def eval_(
    paths: Annotated[list[Path], typer.Argument(help="bundles, or directories of bundles")],
    json_file: Annotated[Path | None, typer.Option(
        "--json", help="also write results and calibration figures as JSON to FILE (- for stdout "
                       "only)", metavar="FILE")] = None,
) -> None:
    """Replay scenario bundles and check each expectation, then score the verdicts (accuracy,
    confusion matrix, reliability, Brier); exit 1 if any expectation is missed."""
    try:
        bundles = find_bundles(paths)
    except ScenarioError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from exc
    results = []
    for bundle in bundles:
        started = time.perf_counter()
        results.append(evaluate(bundle))
        seconds = time.perf_counter() - started
        if json_file != Path("-"):
            _print_result(results[-1], seconds)
    figures = calibrate(results)
    if json_file is not None:
        document = json.dumps({"results": [r.model_dump() | {"passed": r.passed} for r in results],
                               "calibration": figures.model_dump()}, indent=2)
        if json_file == Path("-"):
            typer.echo(document)
        else:
            json_file.write_text(document + "\n", encoding="utf-8")
    if json_file != Path("-"):
        met = sum(c.met for r in results for c in r.checks)
        total = sum(len(r.checks) for r in results)
        passed = sum(r.passed for r in results)
        typer.echo(f"\n{passed} passed, {len(results) - passed} failed "
                   f"({met}/{total} expectations met)\n")
        typer.echo("\n".join(format_calibration(figures)))
    if not results or not all(r.passed for r in results):
        raise typer.Exit(1)


def _print_result(result: ScenarioResult, seconds: float) -> None:
    mark = "PASS" if result.passed else "FAIL"
    verdict = (f" ({result.predicted} {result.confidence:.0%}, truth {result.truth})"
               if result.predicted is not None and result.confidence is not None else "")
    typer.secho(f"{mark}  {result.scenario}{verdict} in {seconds:.1f} s",
                fg="green" if result.passed else "red")
    if result.error:
        typer.echo(f"      error: {result.error}")
    for item in result.checks:
        typer.echo(f"      [{'x' if item.met else ' '}] {item.name}: {item.detail}")


@config_app.command("check")
def config_check() -> None:
    """Validate settings and triage.yaml; print what is enabled and why the rest is not."""
    settings = Settings()
    path = _config_path(settings)
    try:
        config = load_config(path)
    except ConfigError as exc:
        typer.secho(f"invalid: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    from triage.intake import alertmanager
    from triage.runtime import load_playbooks

    try:
        library = load_playbooks(config)
    except ConfigError as exc:
        typer.secho(f"invalid: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    lines = [
        f"config file: {path or '(none: empty default)'}",
        f"store: {settings.resolved_database_url().split('@')[-1]}",
        _part("PagerDuty intake", bool(settings.pagerduty_webhook_secrets),
              "set TRIAGE_PAGERDUTY_WEBHOOK_SECRETS"),
        alertmanager.auth_status(settings),
        _part("Datadog intake", bool(settings.datadog_webhook_token),
              "set TRIAGE_DATADOG_WEBHOOK_TOKEN"),
        *check_lines(settings),
        brain_status(settings, config.brain),
        f"sandbox: {config.sandbox}",
        f"playbooks: {', '.join(sorted(library.playbooks))}",
        *[f"  playbook error: {err}" for err in library.errors],
        "connectors: " + (", ".join(f"{n} ({c['type']})" for n, c in config.connectors.items())
                          or "none"),
        f"services: {len(config.services)}",
        *[f"  {s.name}: connectors {s.connectors or 'none'}"
          + ("" if s.connectors else " (alerts for it will gather no evidence)")
          for s in config.services],
    ]
    typer.echo("\n".join(lines))
    if library.errors or (config.brain == "claude" and model_problem(settings)):
        raise typer.Exit(1)


def _part(name: str, enabled: bool, why_not: str) -> str:
    return f"{name}: {'enabled' if enabled else 'disabled — ' + why_not}"


if __name__ == "__main__":
    app()
