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
README = (ROOT / "README.md").read_text()
DOCS = {path.name: path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))}


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
    named = set(re.findall(r"(?:^|`)make ([\w-]+)", README + "".join(DOCS.values()), re.M))
    assert {"e2e", "bench-workers"} <= named
    assert named <= targets


@pytest.mark.parametrize("name", ["README.md", *(f"docs/{n}" for n in DOCS)])
def test_every_relative_link_resolves_inside_the_repository(name: str) -> None:
    page = ROOT / name
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
    local = [link for link in links if "://" not in link]
    for link in local:
        target = (page.parent / link).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), f"{name}: {link}"


def test_the_readme_names_nothing_outside_the_repository() -> None:
    assert "../" not in README and "shared/" not in README


def test_the_table_of_contents_lists_every_page() -> None:
    assert sorted(re.findall(r"\]\(([\w-]+\.md)\)", DOCS["README.md"])) == sorted(
        n for n in DOCS if n != "README.md")
