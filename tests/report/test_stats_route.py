"""`GET /api/stats`: the figures of `triage stats`, behind the investigations list's access."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import DEMO, make_settings
from triage.analysis.redaction import default_redactor
from triage.app import create_app
from triage.config import parse_config
from triage.feedback import Feedback, record
from triage.runtime import Runtime
from triage.scenarios import load_scenario, run_scenario

TOKEN = "api-token-5c2a9b"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo replayed, its verdict confirmed right by one person."""
    tmp = tmp_path_factory.mktemp("stats")
    _, outcome = run_scenario(DEMO, make_settings(tmp), keep_dir=tmp / "demo")
    return tmp, outcome.investigation_id


def client_of(demo: tuple[Path, str], **settings: Any) -> Iterator[TestClient]:
    tmp, _ = demo
    runtime = Runtime.from_settings(make_settings(tmp, data_dir=tmp / "demo", **settings),
                                    parse_config(load_scenario(DEMO).config, tmp / "demo", "demo"))
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


@pytest.fixture
def protected(demo: tuple[Path, str]) -> Iterator[TestClient]:
    yield from client_of(demo, api_token=SecretStr(TOKEN))


def test_stats_need_the_api_token_when_one_is_set(protected: TestClient) -> None:
    assert protected.get("/api/stats").status_code == 401
    wrong = protected.get("/api/stats", headers={"authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "does not match" in wrong.json()["detail"]


def test_stats_count_the_confirmed_verdict(protected: TestClient, demo: tuple[Path, str]) -> None:
    _, inv = demo
    auth = {"authorization": f"Bearer {TOKEN}"}
    before = protected.get("/api/stats", headers=auth).json()
    assert before["investigations"] == 1 and before["by_state"] == {"completed": 1}
    assert before["confirmed"] == {"right": 0, "wrong": 0} and before["by_brain"] == {}
    record(protected.app.state.runtime.store, default_redactor(), inv,  # type: ignore[attr-defined]
           Feedback(right=True, author="lee"))
    after = protected.get("/api/stats", headers=auth).json()
    assert after["confirmed"] == {"right": 1, "wrong": 0}
    assert after["by_category"] == {"bad-deploy": {"right": 1, "wrong": 0}}
    assert after["by_brain"] == {"rules": {"right": 1, "wrong": 0}}
    assert 0 < after["median_seconds_to_first_note"] < after["median_seconds_to_verdict"]


def test_stats_are_closed_while_report_links_are_signed(demo: tuple[Path, str]) -> None:
    for client in client_of(demo, report_signing_keys=[SecretStr("k" * 48)]):
        assert client.get("/api/stats").status_code == 403
