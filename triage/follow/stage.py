"""The `follow` stage (a DBOS step in triage/workflow.py, right after `analyze`).

From the alerted service's anomalous lines, pick the services they name (then its declared
`depends_on`), run the same playbook's logs, metrics and deploys queries for each over the same
window, analyse them, and go one hop further from what they show, within the budget
(`follow: {hops, max_services}`). Query steps are labelled with their hop; each followed service
gets a `signals` step (signals carry `detail["service"]` and `detail["hop"]`); a `path` step says
what was followed, why, and what each showed. Step ids are deterministic (one StepLog), so a
re-run stage rewrites its rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from connectors import Connector, Evidence, EvidenceKind, EvidenceStatus, build_connector
from triage import repository as repo
from triage.agent.tools import StepLog, ToolCall, ToolRegistry
from triage.analysis.runner import analyze_window, merged_logs
from triage.analysis.signals import AnalysisWindow, CitedEvidence, Signal
from triage.calls import query_calls
from triage.config import ServiceConfig
from triage.follow.discover import Candidate, discover
from triage.follow.path import STAGE, STEP, FollowPath, Hop, NotFollowed
from triage.models import Alert, StepKind, StepRecord, utcnow
from triage.playbook import Playbook, QuerySpec
from triage.runtime import Runtime

KINDS = (EvidenceKind.LOGS, EvidenceKind.METRICS, EvidenceKind.DEPLOYS)
SHOWN_SIGNALS = 2


@dataclass(frozen=True)
class Node:
    """A service whose evidence is in hand: where the next hop starts."""

    name: str
    config: ServiceConfig | None
    cited: list[CitedEvidence]
    onset: datetime
    path: tuple[str, ...]
    reads: ServiceConfig  # whose connectors its queries ran on (its own, or its caller's)


@dataclass(frozen=True)
class Choice:
    """A candidate picked for this hop, from the node that named it."""

    node: Node
    candidate: Candidate


def follow(runtime: Runtime, investigation_id: str) -> list[StepRecord]:
    """Run the follow stage; its steps (queries, signals per followed service, the path)."""
    log, started = StepLog(investigation_id, STAGE), utcnow()
    with runtime.store.read() as conn:
        alert = repo.alert_of_investigation(conn, investigation_id)
        gathered = repo.list_steps(conn, investigation_id, "gather")
        analysis = repo.list_steps(conn, investigation_id, "analyze")
    service = runtime.config.service_named(alert.service)
    budget = runtime.config.follow_for(service)
    path = FollowPath(hops_budget=budget.hops, max_services=budget.max_services)
    plan = next((s for s in gathered if s.name == "plan" and s.status == "ok"), None)
    playbook = runtime.playbooks.playbooks.get(str(plan.detail.get("playbook"))) if plan else None
    if service is None:
        path.stopped = "the alert maps to no configured service, so there is nothing to follow from"
    elif plan is None or playbook is None:
        path.stopped = "no playbook was chosen (see the plan step), so there are no queries to run"
    elif budget.hops == 0:
        path.stopped = "following is off (follow.hops is 0)"
    else:
        window = _window(plan.detail["window"])
        onset = _onset(analysis) or window.onset
        cited = [CitedEvidence(s.id, Evidence.model_validate(s.detail))
                 for s in gathered if s.kind == StepKind.QUERY and s.detail]
        root = Node(service.name, service, cited, onset, (service.name,), service)
        _walk(runtime, log, alert, playbook, window, root, path)
    log.add(StepKind.ANALYSIS, STEP, {"hops": budget.hops, "max_services": budget.max_services},
            "ok", path.summary(), path.model_dump(mode="json"), started,
            (utcnow() - started).total_seconds() * 1000)
    return log.records


def _walk(runtime: Runtime, log: StepLog, alert: Alert, playbook: Playbook,
          window: AnalysisWindow, root: Node, path: FollowPath) -> None:
    """Hop by hop, breadth first, within the budget; fills `path`."""
    frontier, visited, spent = [root], {root.name}, False
    # One round past the budget only discovers: it names what the budget left unfollowed.
    for hop in range(1, path.hops_budget + 2):
        chosen: list[Choice] = []
        for node in frontier:
            found = discover(node.config, node.name, _rows(node), _split(window, node.onset),
                             runtime.config)
            path.not_followed += [NotFollowed(source=node.name, name=u.name, reason=u.reason)
                                  for u in found.unfollowed]
            for candidate in found.candidates:
                if candidate.service in visited:
                    continue
                if hop > path.hops_budget:
                    why, spent = f"the hop budget ({path.hops_budget}) was spent", True
                elif len(chosen) >= path.max_services:
                    why = f"more than follow.max_services ({path.max_services}) in hop {hop}"
                else:
                    visited.add(candidate.service)
                    chosen.append(Choice(node, candidate))
                    continue
                path.not_followed.append(NotFollowed(
                    source=node.name, name=candidate.service, reason=f"{candidate.reason}; not "
                    f"followed: {why}"))
        if not chosen:
            path.stopped = (f"none of {root.name}'s anomalous lines names another service "
                            "(or a declared dependency to look at)" if hop == 1
                            else f"the hop budget ({path.hops_budget}) was spent" if spent
                            else "nothing further was named")
            return
        frontier = _hop(runtime, log, alert, playbook, window, hop, chosen, path)


def _hop(runtime: Runtime, log: StepLog, alert: Alert, playbook: Playbook,
         window: AnalysisWindow, hop: int, chosen: list[Choice], path: FollowPath) -> list[Node]:
    """Query every chosen service (in parallel), analyse each, record it; the nodes with data."""
    types = {name: str(entry.get("type")) for name, entry in runtime.config.connectors.items()}
    built: dict[str, Connector] = {}
    plans: list[tuple[Choice, ServiceConfig, list[ToolCall]]] = []
    for choice in chosen:
        target, source = choice.candidate, choice.node
        config = runtime.config.service_named(target.service) if target.configured else None
        # An unconfigured service is looked for through the connectors of whoever named it.
        reads = config or source.reads
        for name in reads.connectors:
            if name not in built:
                built[name] = build_connector(name, runtime.config.connectors[name],
                                              runtime.config.base_dir)
        connectors = [built[name] for name in reads.connectors if built[name].kind in KINDS]
        specs = [s for s in [*playbook.queries, *(config.queries if config else [])]
                 if s.kind in KINDS]
        calls = query_calls(log, specs, alert, target.service, connectors, types, window.start,
                            window.end, _label(hop, source.name, target))
        plans.append((choice, reads, calls))
    tools = ToolRegistry(list(built.values()), redactor=runtime.redactor)
    try:
        records = tools.call_many([call for _, _, calls in plans for call in calls], log)
    finally:
        tools.close()
    nodes: list[Node] = []
    offset = 0
    for choice, reads, calls in plans:
        mine, offset = records[offset:offset + len(calls)], offset + len(calls)
        node = _analyse(runtime, log, playbook, window, hop, choice, reads, mine, path)
        if node is not None:
            nodes.append(node)
    return nodes


def _label(hop: int, source: str, target: Candidate) -> Callable[[QuerySpec, Connector], str]:
    """How a hop's query steps are named: `error_logs on logs (hop 1: checkout → ledger, …)`."""
    arrow = f"hop {hop}: {source} → {target.service}, {target.short}"
    return lambda spec, connector: f"{spec.id} on {connector.name} ({arrow})"


def _analyse(runtime: Runtime, log: StepLog, playbook: Playbook, window: AnalysisWindow,
             hop: int, choice: Choice, reads: ServiceConfig, records: list[StepRecord],
             path: FollowPath) -> Node | None:
    """Analyse one followed service's evidence; record its signals and its hop."""
    target, source = choice.candidate, choice.node
    trail = [*source.path, target.service]
    started = utcnow()
    cited = [CitedEvidence(r.id, Evidence.model_validate(r.detail)) for r in records if r.detail]
    usable = [c for c in cited if c.evidence.status == EvidenceStatus.OK
              and c.evidence.kind != EvidenceKind.DEPLOYS]
    errors = [c for c in cited if c.evidence.status == EvidenceStatus.ERROR]
    entry = Hop(hop=hop, source=source.name, target=target.service, path=trail,
                reason=target.reason, share=target.share or None, status="followed",
                showed="", steps=[r.id for r in records])
    if not usable:
        entry.status = "error" if errors and len(errors) == len(cited) else "no_data"
        where = ", ".join(reads.connectors) or "no connector"
        entry.showed = (f"nothing to read: no logs or metrics of {target.service} on {where}"
                        + (f" ({errors[0].evidence.summary})" if errors else "")
                        + " — outside what triage can see, so it stays a failing dependency")
        path.hops.append(entry)
        return None
    found, signals = analyze_window(cited, window, playbook.signals, runtime.redactor.redact_text)
    entry.signals = len(signals)
    entry.showed = (f"{len(signals)} signal(s)" + "".join(
        f"; {s.title}" for s in signals[:SHOWN_SIGNALS]) if signals
        else "no signal: its logs and metrics look as before the onset")
    for signal in signals:
        _tag(signal, target.service, hop, trail)
    log.add(StepKind.ANALYSIS, "signals", {"service": target.service, "hop": hop, "path": trail},
            "ok", f"{target.service} (hop {hop}): {entry.showed}",
            {"signals": [s.model_dump(mode="json") for s in signals], "service": target.service,
             "hop": hop, "onset": ({"at": found.at.isoformat(), "series": found.series,
                                    "shape": found.change.shape} if found else None)},
            started, (utcnow() - started).total_seconds() * 1000)
    path.hops.append(entry)
    config = runtime.config.service_named(target.service) if target.configured else None
    return Node(target.service, config, cited, found.at if found else window.onset,
                tuple(trail), reads)


def _tag(signal: Signal, service: str, hop: int, trail: list[str]) -> None:
    """Mark a followed service's signal: whose it is, how far, and by which path."""
    signal.title = f"{service}: {signal.title}"
    signal.detail.update({"service": service, "hop": hop, "path": trail})


def _rows(node: Node) -> list[tuple[datetime, dict[str, object]]]:
    """The node's log lines, each once (its error and all-level reads merged), in time order."""
    logs = [c for c in merged_logs([c for c in node.cited
                                    if c.evidence.status == EvidenceStatus.OK])
            if c.evidence.kind == EvidenceKind.LOGS]
    return sorted((pair for c in logs for pair in c.stamped), key=lambda pair: pair[0])


def _split(window: AnalysisWindow, onset: datetime) -> AnalysisWindow:
    return AnalysisWindow(window.start, onset, window.end)


def _window(raw: dict[str, str]) -> AnalysisWindow:
    return AnalysisWindow(*(datetime.fromisoformat(raw[key]) for key in ("start", "onset", "end")))


def _onset(analysis: list[StepRecord]) -> datetime | None:
    """The onset the analyze stage detected, if it found one."""
    step = next((s for s in analysis if s.name == "signals"), None)
    onset = step.detail.get("onset") if step else None
    return datetime.fromisoformat(onset["at"]) if isinstance(onset, dict) else None
