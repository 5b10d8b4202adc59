"""infra/compose.yaml, infra/Dockerfile, infra/make-secrets.sh and secrets from files.

No container engine here: Debian's `docker-compose` parses and validates the compose file
(`config`) without one; what the services promise (distinct worker ids, health checks, secrets
from files, the schema created before the workers start) is checked on its resolved output.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from infra.modal_app import PACKAGES
from tests.infra.processes import ROOT, require
from triage.config import parse_config

COMPOSE = ROOT / "infra" / "compose.yaml"
TRIAGE_SERVICES = ("api", "worker-1", "worker-2")


def _compose(*args: str, file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    binary = require("docker-compose", "docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIAGE_", "COMPOSE_"))}
    return subprocess.run([binary, "-f", str(file), *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def _resolved(*profiles: str) -> dict[str, Any]:
    done = _compose(*[a for p in profiles for a in ("--profile", p)], "config")
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)
    return resolved


def test_compose_file_is_valid_with_and_without_the_trial_profile() -> None:
    for args in ([], ["--profile", "trial"]):
        done = _compose(*args, "config", "-q")
        assert done.returncode == 0, done.stderr
    # docker-compose 1.x's `config` lists every service; `profiles` says which start by default.
    services = _resolved("trial")["services"]
    assert {name for name, s in services.items() if not s.get("profiles")} == {
        "postgres", *TRIAGE_SERVICES}
    assert {name for name, s in services.items() if s.get("profiles") == ["trial"]} == {
        "elasticsearch", "prometheus", "alertmanager"}


def test_a_mistake_in_the_compose_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("healthcheck:", "healthchek:", 1))
    done = _compose("config", "-q", file=broken)
    assert done.returncode != 0
    assert "healthchek" in done.stderr


def test_api_and_two_workers_with_distinct_stable_ids_on_postgres() -> None:
    services = _resolved()["services"]
    assert services["api"]["command"][:2] == ["serve", "--no-worker"]
    ids = [services[name]["environment"]["TRIAGE_WORKER_ID"] for name in ("worker-1", "worker-2")]
    assert ids == ["worker-1", "worker-2"]
    for name in TRIAGE_SERVICES:
        service = services[name]
        assert service["image"] == "sre-triage:latest"
        assert service["build"]["dockerfile"] == "infra/Dockerfile"
        assert service["environment"]["TRIAGE_CONFIG"] == "/etc/triage/triage.yaml"
        assert "triage_database_url" in {s["source"] for s in service["secrets"]}
        assert service["depends_on"]["postgres" if name == "api" else "api"] == {
            "condition": "service_healthy"}  # the API creates the schema before workers start
    # PostgreSQL keeps its data in a named volume and reads its password from a secret file.
    postgres = services["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "pgdata:/var/lib/postgresql/data:rw" in postgres["volumes"]


def test_health_checks_probe_readiness_and_the_database() -> None:
    services = _resolved("trial")["services"]
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    for name in ("postgres", "api", "elasticsearch", "prometheus", "alertmanager"):
        assert services[name]["healthcheck"]["test"], name


def test_secrets_are_files_and_only_the_api_holds_webhook_credentials() -> None:
    resolved = _resolved("trial")
    for secret in resolved["secrets"].values():
        assert Path(secret["file"]).parent == ROOT / "infra" / "secrets"
    webhook = {"triage_pagerduty_webhook_secrets", "triage_alertmanager_bearer_token",
               "triage_datadog_webhook_token"}
    services = resolved["services"]
    assert webhook <= {s["source"] for s in services["api"]["secrets"]}
    for worker in ("worker-1", "worker-2"):
        assert not webhook & {s["source"] for s in services[worker]["secrets"]}
    # Alertmanager sends the bearer token the API checks: the same secret, at the path its
    # shipped configuration names.
    assert {s["source"] for s in services["alertmanager"]["secrets"]} == {
        "triage_alertmanager_bearer_token"}
    config = yaml.safe_load((ROOT / "infra/alertmanager/alertmanager.yml").read_text())
    assert (config["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]
            ["credentials_file"]) == "/run/secrets/triage_alertmanager_bearer_token"


def test_the_mounted_triage_yaml_is_a_valid_configuration() -> None:
    raw = yaml.safe_load((ROOT / "infra" / "triage.compose.yaml").read_text())
    config = parse_config(raw, Path("/etc/triage"), "infra/triage.compose.yaml")
    assert [s.name for s in config.services] == ["checkout"]


def test_make_secrets_creates_each_file_once_and_prints_no_value(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    first = subprocess.run(["bash", str(ROOT / "infra" / "make-secrets.sh"), str(target)],
                           capture_output=True, text=True, timeout=30, check=True)
    files = {p.name: p.read_text() for p in target.iterdir()}
    declared = {Path(s["file"]).name for s in _resolved("trial")["secrets"].values()}
    assert set(files) == declared  # every secret compose mounts, nothing else
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    password = files["postgres_password"]
    assert len(password) == 64
    assert files["triage_database_url"] == f"postgresql://triage:{password}@postgres:5432/triage"
    assert files["triage_pagerduty_webhook_secrets"] == ""  # PagerDuty's own secret goes here
    assert files["triage_alertmanager_bearer_token"] != files["triage_datadog_webhook_token"]
    assert not any(value and value in first.stdout for value in files.values())
    again = subprocess.run(["bash", str(ROOT / "infra" / "make-secrets.sh"), str(target)],
                           capture_output=True, text=True, timeout=30, check=True)
    assert again.stdout == ""
    assert {p.name: p.read_text() for p in target.iterdir()} == files


def test_settings_are_read_from_secret_files_and_the_environment_wins(tmp_path: Path) -> None:
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "triage_database_url").write_text("postgresql://triage:s3cret@db.internal:5432/triage\n")
    (secrets / "triage_pagerduty_webhook_secrets").write_text("old-secret,new-secret\n")
    (secrets / "triage_datadog_webhook_token").write_text("from-file\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env |= {"TRIAGE_SECRETS_DIR": str(secrets), "TRIAGE_DATA_DIR": str(tmp_path / "data"),
            "TRIAGE_DATADOG_WEBHOOK_TOKEN": "from-env"}
    script = ("from triage.config import Settings; s = Settings(); "
              "print(s.resolved_database_url()); "
              "print([x.get_secret_value() for x in s.pagerduty_webhook_secrets]); "
              "print(s.datadog_webhook_token.get_secret_value())")
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.splitlines() == [
        "postgresql://triage:s3cret@db.internal:5432/triage",  # trailing newline stripped
        "['old-secret', 'new-secret']",
        "from-env",
    ]
    # Without the directory, nothing is read and nothing is warned about.
    env["TRIAGE_SECRETS_DIR"] = str(tmp_path / "missing")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script.split("; print")[0]],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_dockerfile_builds_a_slim_non_root_image_with_bubblewrap() -> None:
    lines = _dockerfile_instructions()
    assert lines[0][0] == "FROM" and lines[0][1].startswith("python:3.11-slim")
    runs = " ".join(arg for op, arg in lines if op == "RUN")
    assert "bubblewrap" in runs and "pip install --no-cache-dir ." in runs
    user = [arg for op, arg in lines if op == "USER"]
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert ("ENTRYPOINT", '["tini", "--", "triage"]') in lines
    assert ("CMD", '["serve", "--host", "0.0.0.0", "--port", "8000"]') in lines


def test_dockerfile_modal_image_and_pyproject_ship_the_same_packages() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = {name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {arg.split()[0] for op, arg in _dockerfile_instructions() if op == "COPY"}
    assert included <= copied
    assert included == set(PACKAGES)
    for source in copied:
        assert (ROOT / source).exists(), source


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = (ROOT / "infra" / "Dockerfile").read_text()
    instructions: list[tuple[str, str]] = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            op, _, arg = line.strip().partition(" ")
            instructions.append((op.upper(), " ".join(arg.split())))
    return instructions
