"""What to reproduce, where: the service's (or playbook's) repro, the deployed commit and the last
good deploy (from the deploy evidence), or the reason nothing can be reproduced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors import Evidence, EvidenceKind, EvidenceStatus
from connectors.timeparse import parse_timestamp
from triage.agent.base import Findings
from triage.config import ServiceConfig, TriageConfig
from triage.fix.backends import repository_source
from triage.fix.config import ReproSpec
from triage.playbook import Playbook

FAILED_DEPLOY_STATES = frozenset({"failure", "error", "inactive"})
_DEPLOY_FIELDS = ("id", "commit", "previous_commit", "deployed_at", "author", "description", "url")


@dataclass(frozen=True)
class Target:
    """The deployed commit to reproduce at, and the last good one to bisect from."""

    commit: str
    good: str | None
    deploy: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Everything the reproduce stage needs, once every precondition holds."""

    service: ServiceConfig
    source: str  # the repository: a URL, a path or a bundle file
    spec: ReproSpec
    spec_source: str
    target: Target


class Skip(Exception):
    """Reproduction does not apply; the message says why."""


def repro_spec(service: ServiceConfig, playbook: Playbook | None) -> tuple[ReproSpec, str] | None:
    """The service's repro, else the playbook's, with whose it is."""
    if service.repro is not None:
        return service.repro, f"service {service.name}"
    if playbook is not None and playbook.repro is not None:
        return playbook.repro, f"playbook {playbook.name}"
    return None


def plan(config: TriageConfig, service: ServiceConfig | None, playbook: Playbook | None,
         findings: Findings | None, evidence: list[Evidence], alert_start: datetime) -> Plan:
    """The reproduction to run; Skip with the reason when there is none to run."""
    if service is None:
        raise Skip("the alert maps to no service in triage.yaml")
    if config.sandbox == "none":
        raise Skip("no sandbox backend is configured (set `sandbox: local` in triage.yaml)")
    if not service.repository:
        raise Skip(f"service {service.name!r} has no `repository`")
    found = repro_spec(service, playbook)
    if found is None:
        raise Skip(f"no `repro` is configured for service {service.name!r}"
                   + (f" or playbook {playbook.name!r}" if playbook else ""))
    if findings is None:
        raise Skip("the brain recorded no findings")
    if findings.abstained:
        raise Skip("the brain abstained: no cause was named, so there is nothing to reproduce")
    lead = findings.hypotheses[0] if findings.hypotheses else None
    if lead is not None and lead.service not in (None, service.name):
        raise Skip(f"the leading cause lies in {lead.service} (followed from {service.name}): "
                   f"a repro of {service.name} would not test it")
    target = deployed_target(evidence, service.name, alert_start)
    if target is None:
        raise Skip("no deploy of the service before the alert is in the evidence: the deployed "
                   "commit is unknown")
    spec, whose = found
    return Plan(service, repository_source(service.repository, config.base_dir), spec, whose,
                target)


def deployed_target(evidence: list[Evidence], service: str, before: datetime) -> Target | None:
    """The newest deploy of `service` at or before `before`, and the one it replaced."""
    deploys: list[tuple[datetime, dict[str, Any]]] = []
    for ev in evidence:
        if ev.kind != EvidenceKind.DEPLOYS or ev.status != EvidenceStatus.OK:
            continue
        for row in ev.rows:
            when = _when(row)
            commit = row.get("commit") or row.get("sha")
            if (when is None or when > before or not isinstance(commit, str) or not commit
                    or row.get("service") not in (None, "", service)
                    or str(row.get("state") or "").lower() in FAILED_DEPLOY_STATES):
                continue
            deploys.append((when, row))
    if not deploys:
        return None
    deploys.sort(key=lambda pair: pair[0])
    current = deploys[-1][1]
    commit = str(current.get("commit") or current.get("sha"))
    good = current.get("previous_commit")
    if not good:
        older = [row for _, row in deploys[:-1]
                 if str(row.get("commit") or row.get("sha")) != commit]
        good = (older[-1].get("commit") or older[-1].get("sha")) if older else None
    return Target(commit=commit, good=str(good) if good and good != commit else None,
                  deploy={k: current[k] for k in _DEPLOY_FIELDS if current.get(k) is not None})


def _when(row: dict[str, Any]) -> datetime | None:
    """When a deploy row says it happened."""
    raw = row.get("deployed_at") or row.get("created_at")
    if raw is None:
        return None
    try:
        return parse_timestamp(raw)
    except (ValueError, TypeError):
        return None
