"""Shared fixtures: a fresh store per test, the real app, signed deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr

from triage.app import create_app
from triage.config import Settings, TriageConfig, parse_config
from triage.intake.pagerduty import sign
from triage.runtime import Runtime
from triage.scenarios import load_scenario, stage_bundle

SAMPLES = Path(__file__).parent / "samples"
DEMO = Path(__file__).resolve().parents[1] / "triage" / "demo" / "checkout-bad-deploy"
PD_SECRET = "pd-secret-current"
DD_TOKEN = "dd-token"


def sample(path: str) -> dict[str, Any]:
    """A vendor sample payload as a dict."""
    loaded: dict[str, Any] = json.loads((SAMPLES / path).read_text())
    return loaded


def compact(payload: dict[str, Any]) -> bytes:
    """The body as a vendor would send it: compact JSON."""
    return json.dumps(payload, separators=(",", ":")).encode()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings isolated in `tmp_path`, with known webhook credentials."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "pagerduty_webhook_secrets": [SecretStr(PD_SECRET)],
        "datadog_webhook_token": SecretStr(DD_TOKEN),
        "alertmanager_open": True,  # tests/intake/test_alertmanager_auth.py checks the closed default
        "public_url": "http://triage.test",
    }
    values.update(overrides)
    return Settings.model_construct(**{**Settings().model_dump(), **values})


CHECKOUT_CONFIG = {
    "services": [{"name": "checkout", "match": {"pagerduty_service_ids": ["PF9KMXH"]},
                  "connectors": []}],
}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime over an empty SQLite store, no worker."""
    rt = Runtime.from_settings(make_settings(tmp_path),
                               parse_config(CHECKOUT_CONFIG, tmp_path, "test"))
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The real app (API only: investigations stay queued)."""
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def pd_headers(body: bytes, secret: str = PD_SECRET, webhook_id: str = "wh-1") -> dict[str, str]:
    """Headers of a signed PagerDuty V3 delivery."""
    return {"content-type": "application/json", "x-pagerduty-signature": sign(body, secret),
            "x-webhook-id": webhook_id}


def staged_demo(tmp_path: Path) -> tuple[Path, TriageConfig]:
    """The demo bundle staged in `tmp_path/bundle`, with its config and a triage.yaml."""
    workdir = tmp_path / "bundle"
    stage_bundle(DEMO, workdir)
    scenario = load_scenario(DEMO)
    (workdir / "triage.yaml").write_text(yaml.safe_dump(scenario.config))
    return workdir, parse_config(scenario.config, workdir, "demo")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the whole session (see tests/postgres.py)."""
    from tests.postgres import postgres_server

    with postgres_server() as dsn:
        yield dsn
