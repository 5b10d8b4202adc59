"""The follow stage end to end: hops within the budget, the path, the brain's verdict through
the hop, and an idempotent re-run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from tests.follow.chains import OOM, TIMEOUT, world
from triage import repository as repo
from triage.config import TriageConfig
from triage.follow.path import FollowPath
from triage.follow.stage import follow
from triage.notify.content import final_note
from triage.replay import ReplayOutcome
from triage.report.render import render_html
from triage.runtime import Runtime


def _steps(outcome: ReplayOutcome) -> list[str]:
    """The names of the follow stage's query steps."""
    return [q.name for q in outcome.report.queries if q.stage == "follow"]


def test_a_three_hop_chain_with_a_budget_of_two_stops_after_two(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": TIMEOUT.replace("{host}", "ledger.internal"),
                               "ledger": "dial tcp vault:5432: connect: connection refused",
                               "vault": "upstream call to blobs failed: connection reset by "
                                        "peer (blobs:9000)",
                               "blobs": OOM},
                    [{"name": "checkout"}, {"name": "ledger"}, {"name": "vault"},
                     {"name": "blobs"}], follow={"hops": 2})
    followed = outcome.report.followed
    assert followed is not None
    assert [(h.hop, h.source, h.target, h.status) for h in followed.hops] == [
        (1, "checkout", "ledger", "followed"), (2, "ledger", "vault", "followed")]
    assert followed.hops[1].path == ["checkout", "ledger", "vault"]
    left = [n for n in followed.not_followed if n.name == "blobs"]
    assert left and "budget" in left[0].reason and left[0].source == "vault"
    assert followed.stopped == "the hop budget (2) was spent"
    names = _steps(outcome)
    assert names and all("(hop 1: checkout → ledger" in n or "(hop 2: ledger → vault" in n
                         for n in names)
    assert not any("blobs" in n for n in names)  # never queried
    hops = {s.detail.get("service"): s.detail.get("hop") for s in outcome.report.signals
            if s.detail.get("hop") is not None}
    assert hops == {"ledger": 1, "vault": 2}


def test_the_cause_only_in_a_dependency_is_named_through_the_path(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": TIMEOUT.replace("{host}", "items-7.ledger.svc"),
                               "ledger": OOM},
                    [{"name": "checkout"}, {"name": "ledger", "hosts": ["*.ledger.svc"]}])
    report = outcome.report
    assert report.findings is not None
    top = report.findings.hypotheses[0]
    assert top.category == "resource-exhaustion"
    assert top.title.startswith("checkout → ledger: ")
    assert top.service == "ledger"
    dependency = next(h for h in report.findings.hypotheses if h.category == "dependency-failure")
    assert dependency.confidence < top.confidence
    markdown = outcome.markdown_path.read_text()
    assert "## Followed" in markdown and "**checkout → ledger**" in markdown
    assert "items-7.ledger.svc" in markdown  # why: the host the errors named
    assert 'id="followed"' in render_html(report)
    body, _ = final_note(report, [], "http://triage.test/r")
    assert "Followed checkout → ledger (named in" in body


def test_nothing_is_followed_when_no_error_names_another_service(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": "KeyError: 'locale' in rank()", "ledger": OOM},
                    [{"name": "checkout"}, {"name": "ledger"}])
    followed = outcome.report.followed
    assert followed is not None and followed.hops == []
    assert "names another service" in followed.stopped
    assert _steps(outcome) == []
    assert not any(s.detail.get("hop") for s in outcome.report.signals)
    assert "## Followed" not in outcome.markdown_path.read_text()


def test_a_declared_dependency_is_followed_when_the_failure_looks_like_one(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": "upstream request timed out after 5s", "ledger": OOM},
                    [{"name": "checkout", "depends_on": ["ledger"]}, {"name": "ledger"}])
    followed = outcome.report.followed
    assert followed is not None
    assert [h.target for h in followed.hops] == ["ledger"]
    assert followed.hops[0].reason.startswith("declared in triage.yaml")


def test_an_unconfigured_service_is_read_through_the_callers_connectors(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": "dial tcp ledger:8443: connect: connection refused",
                               "ledger": OOM}, [{"name": "checkout"}])
    followed = outcome.report.followed
    assert followed is not None
    assert [(h.target, h.status) for h in followed.hops] == [("ledger", "followed")]
    assert followed.hops[0].signals > 0


def test_an_unobservable_dependency_stays_a_dependency_failure(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": TIMEOUT.replace("{host}", "ghost.internal")},
                    [{"name": "checkout"}])
    followed = outcome.report.followed
    assert followed is not None
    assert [(h.target, h.status) for h in followed.hops] == [("ghost", "no_data")]
    assert "outside what triage can see" in followed.hops[0].showed
    assert outcome.report.findings is not None
    assert outcome.report.findings.hypotheses[0].category == "dependency-failure"


def test_max_services_bounds_a_hop(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": TIMEOUT.replace("{host}", "ledger.internal")
                               + " (fallback ping to vault:7000 refused)",
                               "ledger": OOM, "vault": OOM},
                    [{"name": "checkout", "follow": {"max_services": 1}}, {"name": "ledger"},
                     {"name": "vault"}])
    followed = outcome.report.followed
    assert followed is not None and len(followed.hops) == 1
    assert any("max_services" in n.reason for n in followed.not_followed)


def test_a_rerun_of_the_stage_rewrites_the_same_steps(tmp_path: Path) -> None:
    outcome = world(tmp_path, {"checkout": TIMEOUT.replace("{host}", "ledger.internal"),
                               "ledger": OOM}, [{"name": "checkout"}, {"name": "ledger"}])
    config = TriageConfig.model_validate({
        "services": [{"name": "checkout", "connectors": ["logs"]},
                     {"name": "ledger", "connectors": ["logs"]}],
        "connectors": {"logs": {"type": "files_logs", "path": str(tmp_path / "logs.jsonl")}}})
    runtime = Runtime.from_settings(make_settings(tmp_path), config)
    try:
        with runtime.store.read() as conn:
            stored = repo.list_steps(conn, outcome.investigation_id, "follow")
        again = follow(runtime, outcome.investigation_id)
        assert [(r.id, r.name) for r in again] == [(s.id, s.name) for s in
                                                    sorted(stored, key=lambda s: s.seq)]
        with runtime.store.transaction() as conn:
            repo.save_steps(conn, again)
        with runtime.store.read() as conn:
            assert len(repo.list_steps(conn, outcome.investigation_id, "follow")) == len(stored)
        assert FollowPath.from_steps(again) == outcome.report.followed
    finally:
        runtime.close()
