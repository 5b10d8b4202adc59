"""`triage --help` and every command's `--help` import none of the heavy machinery."""

from __future__ import annotations

import json
import subprocess
import sys

from triage.cli.investigate import SOURCES
from triage.models import Source

HEAVY = ["dbos", "anthropic", "modal", "elasticsearch", "datadog_api_client", "numpy", "ruptures",
         "sqlalchemy", "fastapi"]

# Runs in a fresh interpreter: asks for every command's help, then names the heavy modules loaded.
PROBE = """
import json, sys
from typer.main import get_command
from triage.cli import app

def paths(command, prefix):
    yield prefix
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from paths(sub, [*prefix, name])

commands = list(paths(get_command(app), []))
for argv in commands:
    try:
        app([*argv, "--help"], prog_name="triage")
    except SystemExit:
        pass
then = sys.argv[1:]
for name in then:
    __import__(name)
heavy = %r
print(json.dumps({"commands": [" ".join(c) for c in commands],
                  "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(*then_import: str) -> dict[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", PROBE % HEAVY, *then_import],
                            capture_output=True, text=True, check=True)
    found: dict[str, list[str]] = json.loads(result.stdout.splitlines()[-1])
    return found


def test_help_of_every_command_loads_no_heavy_module() -> None:
    found = probe()
    assert {"", "serve", "run", "demo", "init", "config check", "connectors test", "query",
            "sandbox run", "reports link", "playbooks validate", "eval"} <= set(found["commands"])
    assert found["loaded"] == []


def test_the_probe_sees_heavy_modules_once_the_runtime_is_imported() -> None:
    assert {"dbos", "sqlalchemy"} <= set(probe("triage.runtime")["loaded"])


def test_run_offers_every_alert_source() -> None:
    # every source that delivers webhooks; Slack only starts investigations from a slash command
    assert list(SOURCES) == [source.value for source in Source if source != Source.SLACK]
