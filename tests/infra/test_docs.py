"""docs/deploy.md and docs/integrations.md stay true: every integration has its guide, the Datadog
payload is the one the intake is tested with, and every file and make target they name exists."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import SAMPLES
from tests.infra.processes import ROOT

DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
INTEGRATIONS = (ROOT / "docs" / "integrations.md").read_text()


@pytest.mark.parametrize("heading", [
    "PagerDuty", "Prometheus Alertmanager", "Datadog", "GitHub App (draft pull requests)",
    "PostgreSQL: the read-only role", "Elasticsearch: a read-only API key",
    "Anthropic (the Claude brain)", "Modal (sandboxes and hosting)"])
def test_every_integration_has_a_setup_guide(heading: str) -> None:
    assert f"\n## {heading}\n" in INTEGRATIONS


def test_the_recommended_datadog_payload_is_the_tested_template() -> None:
    section = INTEGRATIONS.split("\n## Datadog\n")[1].split("\n## ")[0]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None
    documented = json.loads(block.group(1))
    assert documented == json.loads((SAMPLES / "datadog" / "payload_template.json").read_text())


@pytest.mark.parametrize("text", [DEPLOY, INTEGRATIONS], ids=["deploy.md", "integrations.md"])
def test_every_repository_path_named_exists(text: str) -> None:
    named = {path.rstrip("/") for path in re.findall(r"`((?:infra|docs|bench|tests)/[\w./-]*)`", text)}
    assert named
    generated = {"infra/secrets"}  # written by infra/make-secrets.sh, ignored by git
    missing = sorted(path for path in named - generated if not (ROOT / path).exists())
    assert not missing


def test_every_make_target_named_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    named = set(re.findall(r"make ([\w-]+)", DEPLOY + (ROOT / "README.md").read_text()))
    assert {"e2e", "bench-workers"} <= named
    assert named <= targets
