"""Which commit runs in production, which one was good before it, and when there is nothing to
reproduce (each reason stated)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors import Evidence, EvidenceKind, EvidenceStatus
from triage.agent.base import Findings, Hypothesis
from triage.config import parse_config
from triage.fix.config import ReproSpec
from triage.fix.plan import Skip, deployed_target, plan
from triage.playbook import Playbook

ALERT = datetime(2026, 11, 20, 13, 50, tzinfo=UTC)


def deploys(*rows: dict[str, Any]) -> Evidence:
    return Evidence(connector="deploys", kind=EvidenceKind.DEPLOYS, status=EvidenceStatus.OK,
                    query="", start=ALERT, end=ALERT, rows=list(rows))


def row(commit: str, at: str, **extra: Any) -> dict[str, Any]:
    return {"service": "checkout", "commit": commit, "deployed_at": at, **extra}


def test_the_newest_deploy_before_the_alert_and_its_previous_commit() -> None:
    target = deployed_target([deploys(row("aaa", "2026-11-20T10:00:00Z"),
                                      row("bbb", "2026-11-20T13:40:00Z", previous_commit="zzz",
                                          id="dep-2", author="lee", files=["x"]),
                                      row("ccc", "2026-11-20T13:55:00Z"))], "checkout", ALERT)
    assert target is not None
    assert (target.commit, target.good) == ("bbb", "zzz")
    assert target.deploy == {"id": "dep-2", "commit": "bbb", "previous_commit": "zzz",
                             "deployed_at": "2026-11-20T13:40:00Z", "author": "lee"}


def test_without_previous_commit_the_deploy_before_is_the_good_one() -> None:
    target = deployed_target([deploys(row("aaa", "2026-11-20T10:00:00Z"),
                                      row("bbb", "2026-11-20T11:00:00Z"),
                                      row("bbb", "2026-11-20T12:00:00Z"),  # a re-deploy
                                      row("ddd", "2026-11-20T13:00:00Z", state="failure"),
                                      row("eee", "2026-11-20T13:10:00Z", service="search"))],
                             "checkout", ALERT)
    assert target is not None
    assert (target.commit, target.good) == ("bbb", "aaa")


def test_no_deploy_or_only_one() -> None:
    assert deployed_target([deploys()], "checkout", ALERT) is None
    only = deployed_target([deploys(row("aaa", "2026-11-20T10:00:00Z"))], "checkout", ALERT)
    assert only is not None and only.good is None


REPRO = {"command": ["make", "repro"]}


def findings(abstained: bool = False) -> Findings:
    return Findings(brain="rules", summary="s", abstained=abstained)


@pytest.mark.parametrize(("services", "sandbox", "brain", "evidence", "reason"), [
    ([], "local", findings(), [], "the alert maps to no service in triage.yaml"),
    ([{"name": "checkout", "repository": "r", "repro": REPRO}], "none", findings(), [],
     "no sandbox backend is configured (set `sandbox: local` in triage.yaml)"),
    ([{"name": "checkout", "repro": REPRO}], "local", findings(), [],
     "service 'checkout' has no `repository`"),
    ([{"name": "checkout", "repository": "r"}], "local", findings(), [],
     "no `repro` is configured for service 'checkout' or playbook 'default'"),
    ([{"name": "checkout", "repository": "r", "repro": REPRO}], "local", findings(True), [],
     "the brain abstained: no cause was named, so there is nothing to reproduce"),
    ([{"name": "checkout", "repository": "r", "repro": REPRO}], "local", findings(), [],
     "no deploy of the service before the alert is in the evidence: the deployed commit is "
     "unknown"),
    ([{"name": "checkout", "repository": "r", "repro": REPRO}], "local",
     Findings(brain="rules", summary="s", hypotheses=[Hypothesis(
         category="bad-deploy", title="checkout → ledger: Bad deploy", confidence=0.8,
         suspect_commit="abc", service="ledger")]), [deploys(row("bbb", "2026-11-20T13:40:00Z"))],
     "the leading cause lies in ledger (followed from checkout): a repro of checkout would not "
     "test it"),
])
def test_each_reason_to_skip(tmp_path: Path, services: list[dict[str, Any]], sandbox: str,
                             brain: Findings, evidence: list[Evidence], reason: str) -> None:
    config = parse_config({"services": services, "sandbox": sandbox}, tmp_path, "t")
    service = config.services[0] if services else None
    with pytest.raises(Skip) as caught:
        plan(config, service, Playbook(name="default"), brain, evidence, ALERT)
    assert str(caught.value) == reason


def test_the_service_repro_wins_over_the_playbooks_and_paths_are_config_relative(
        tmp_path: Path) -> None:
    config = parse_config({"services": [{"name": "checkout", "repository": "repo.bundle"}],
                           "sandbox": "local"}, tmp_path, "t")
    playbook = Playbook.model_validate({"name": "p", "repro": {"command": ["pb"]}})
    chosen = plan(config, config.services[0], playbook, findings(),
                  [deploys(row("bbb", "2026-11-20T13:40:00Z"))], ALERT)
    assert (chosen.spec.command, chosen.spec_source) == (["pb"], "playbook p")
    assert chosen.source == str(tmp_path / "repo.bundle")
    own = config.services[0].model_copy(update={"repro": ReproSpec(command=["own"])})
    assert plan(config, own, playbook, findings(), [deploys(row("bbb", "2026-11-20T13:40:00Z"))],
                ALERT).spec_source == "service checkout"
