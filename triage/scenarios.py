"""Scenario bundles: past incidents packed for replay (see README, "Scenario bundles").

A bundle is a folder with `scenario.yaml`, `alert.json` (the body exactly as delivered) and the
data its connectors read: `logs.jsonl`, `metrics.csv`, `db.sql` (loaded into SQLite as
`db.sqlite`), `deploys.json`, `repo.bundle`, and `db_activity.yaml` (sessions to hold open).
Replayed through the file connectors (`files`, the default) or loaded into real servers and read
through the production connectors (`real`, see `triage.backends`).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from triage.backends.usage import ConnectorUse, connector_use, real_reason
from triage.config import ConfigError, Settings, parse_config
from triage.models import Source
from triage.replay import ReplayOutcome, replay
from triage.report.build import Report
from triage.report.render import render_markdown

if TYPE_CHECKING:
    from triage.backends.servers import Servers

FALSE_ALARM = "false-alarm"  # the truth of an incident that has no cause to name
ABSTAIN = "abstain"  # what a report predicts when it declines to name a cause
COMMIT_CATEGORIES = frozenset({"bad-deploy", "config-change"})
Backends = Literal["files", "real"]


class ScenarioError(Exception):
    """A bundle is malformed; the message names the file and the field."""


class Expectations(BaseModel):
    """What a correct triage of this incident concludes."""

    model_config = ConfigDict(extra="forbid")

    top_category: str | None = None
    abstains: bool | None = None
    report_contains: list[str] = Field(default_factory=list)
    culprit_commit: str | None = None
    repro_verdict: Literal["reproduced", "not_reproduced", "inconclusive"] | None = None
    fix_verified: bool | None = Field(default=None, description="a verified candidate fix exists")
    blames_commit: bool | None = Field(default=None, description="the report names a commit or "
                                       "deploy as the cause (false: the truth has no culprit)")
    truth_category: str | None = Field(default=None, description="the true cause's category, for "
                                       "calibration, when `top_category` does not say it")

    def truth(self) -> str | None:
        """The true category: stated, else the expected top category, else a false alarm."""
        if self.truth_category is not None:
            return self.truth_category
        if self.top_category is not None:
            return self.top_category
        return FALSE_ALARM if self.abstains else None


class Scenario(BaseModel):
    """`scenario.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    source: Source
    headers: dict[str, str] = Field(default_factory=dict)
    incident_time: datetime
    config: dict[str, Any] = Field(description="triage.yaml for the replay; paths are bundle-relative")
    requires: Backends = Field(default="files", description="`real`: replay only through the real "
                               "backends (implied by db_activity.yaml)")
    expectations: Expectations = Field(default_factory=Expectations)


class Check(BaseModel):
    """One expectation, met or missed."""

    name: str
    met: bool
    detail: str


class ScenarioResult(BaseModel):
    """The outcome of replaying one bundle."""

    scenario: str
    checks: list[Check]
    report_path: str | None = None
    error: str | None = None
    truth: str | None = Field(default=None, description="the true category (expectations)")
    predicted: str | None = Field(default=None, description="the top category, or `abstain`")
    confidence: float | None = Field(default=None, description="the top hypothesis's confidence")
    blamed_commit: bool | None = Field(default=None, description="a commit or deploy is the cause")
    backend: Backends = "files"
    skipped: str | None = Field(default=None, description="why the bundle was not replayed")
    connectors: list[ConnectorUse] = Field(default_factory=list, description="per connector: "
                                           "where it read, how many queries, how long")

    @property
    def passed(self) -> bool:
        """Every check met and no error (a skipped bundle is not a failure)."""
        return self.error is None and all(c.met for c in self.checks)


def load_scenario(bundle: Path) -> Scenario:
    """Parse and validate `scenario.yaml` of a bundle."""
    path = bundle / "scenario.yaml"
    try:
        return Scenario.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror}") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc


def stage_bundle(bundle: Path, workdir: Path) -> None:
    """Copy the bundle's files into `workdir` and build `db.sqlite` from `db.sql`."""
    shutil.copytree(bundle, workdir, dirs_exist_ok=True)
    sql = workdir / "db.sql"
    if sql.is_file():
        conn = sqlite3.connect(workdir / "db.sqlite")
        try:
            conn.executescript(sql.read_text(encoding="utf-8"))
            conn.commit()
        finally:
            conn.close()


def run_scenario(bundle: Path, settings: Settings | None = None, keep_dir: Path | None = None,
                 playbook_dirs: list[Path] | None = None, backends: Backends = "files",
                 servers: Servers | None = None) -> tuple[Scenario, ReplayOutcome]:
    """Replay one bundle through the webhook route and the workflow, in a fresh store
    (with `playbook_dirs` added to the bundle's own configuration); `real` loads it into
    `servers` (started for this bundle alone when not given) and reads it from there."""
    return _run(bundle, settings, keep_dir, playbook_dirs, backends, servers)[:2]


def _run(bundle: Path, settings: Settings | None, keep_dir: Path | None,
         playbook_dirs: list[Path] | None, backends: Backends,
         servers: Servers | None) -> tuple[Scenario, ReplayOutcome, dict[str, str]]:
    """`run_scenario`, also returning where each connector read (`type URL`)."""
    scenario = load_scenario(bundle)
    workdir = keep_dir or Path(tempfile.mkdtemp(prefix=f"triage-{scenario.name}-"))
    stage_bundle(bundle, workdir)
    raw = scenario.config
    with contextlib.ExitStack() as stack:
        where = {name: f"{c.get('type')} {c.get('path', '')}".strip()
                 for name, c in (raw.get("connectors") or {}).items() if isinstance(c, dict)}
        if backends == "real":
            from triage.backends.load import loaded
            from triage.backends.servers import Servers

            in_use = servers or stack.enter_context(Servers())
            found = stack.enter_context(loaded(bundle, workdir, raw, in_use, scenario.name))
            raw, where = found.config, found.backends
        try:
            config = parse_config(raw, workdir, f"{bundle}/scenario.yaml: config")
        except ConfigError as exc:
            raise ScenarioError(str(exc)) from exc
        config.playbook_dirs += [p.resolve() for p in playbook_dirs or []]
        base = settings or Settings()
        run_settings = base.model_copy(update={"data_dir": workdir, "database_url": None,
                                               "config": None})
        body = (bundle / "alert.json").read_bytes()
        outcome = replay(run_settings, config, scenario.source, body, scenario.headers)
    return scenario, outcome, where


@dataclass(frozen=True)
class Conclusion:
    """What a report concludes, as calibration scores it."""

    predicted: str  # the top hypothesis's category, or ABSTAIN
    confidence: float  # the top hypothesis's stated confidence (0 without one)
    blamed_commit: bool  # a commit or deploy is presented as the cause


def conclusion_of(report: Report) -> Conclusion:
    """The report's final verdict (its findings after reconciliation) and whom it blames."""
    findings = report.findings
    top = findings.hypotheses[0] if findings and findings.hypotheses else None
    confidence = top.confidence if top else 0.0
    abstained = findings is None or findings.abstained or top is None
    culprit = report.fix.culprit if report.fix else None
    names_commit = not abstained and top is not None and (
        bool(top.suspect_commit) or top.category in COMMIT_CATEGORIES)
    return Conclusion(ABSTAIN if abstained or top is None else top.category, confidence,
                   names_commit or culprit is not None)


def check(scenario: Scenario, outcome: ReplayOutcome) -> list[Check]:
    """Compare a finished investigation with the scenario's expectations."""
    expected = scenario.expectations
    report = outcome.report
    hypotheses = report.findings.hypotheses if report.findings else []
    top = hypotheses[0] if hypotheses else None
    checks = [Check(name="completed", met=report.state == "completed",
                    detail=report.error or report.state)]
    if expected.top_category is not None:
        got = top.category if top else "(none)"
        checks.append(Check(name="top category", met=got == expected.top_category,
                            detail=f"expected {expected.top_category}, got {got}"))
    if expected.abstains is not None:
        got_abstain = bool(report.findings and report.findings.abstained)
        checks.append(Check(name="abstains", met=got_abstain == expected.abstains,
                            detail=f"expected {expected.abstains}, got {got_abstain}"))
    text = render_markdown(report)
    for phrase in expected.report_contains:
        checks.append(Check(name=f"report mentions {phrase!r}", met=phrase in text,
                            detail="found" if phrase in text else "not in the report"))
    if expected.culprit_commit is not None:
        # The bisect result when there is one; the brain's suspect (a deploy) otherwise.
        culprit = report.fix.culprit if report.fix else None
        got_commit = culprit.sha if culprit else (top.suspect_commit or "") if top else ""
        met = bool(got_commit) and (got_commit.startswith(expected.culprit_commit)
                                    or expected.culprit_commit.startswith(got_commit))
        how = "bisect" if culprit else "brain's suspect"
        checks.append(Check(name="culprit commit", met=met,
                            detail=f"expected {expected.culprit_commit}, got "
                                   f"{got_commit or '(none)'} ({how})"))
    if expected.repro_verdict is not None:
        repro = report.fix.repro if report.fix else None
        got_verdict = repro.status if repro else "(not run)"
        detail = f"expected {expected.repro_verdict}, got {got_verdict}"
        checks.append(Check(name="repro verdict", met=got_verdict == expected.repro_verdict,
                            detail=detail + (f": {repro.reason}" if repro else "")))
    if expected.fix_verified is not None:
        fix = report.fix.fix if report.fix else None
        got_fix = bool(fix and fix.status == "verified")
        checks.append(Check(name="fix verified", met=got_fix == expected.fix_verified,
                            detail=f"expected {expected.fix_verified}, got {got_fix}"
                                   + (f" ({fix.status}: {fix.reason})" if fix else "")))
    if expected.blames_commit is not None:
        blamed = conclusion_of(report).blamed_commit
        checks.append(Check(name="blames a commit", met=blamed == expected.blames_commit,
                            detail=f"expected {expected.blames_commit}, got {blamed}"
                                   + (f" ({_blamed(report)})" if blamed else "")))
    return checks


def _blamed(report: Report) -> str:
    """Which commit or deploy the report blames."""
    culprit = report.fix.culprit if report.fix else None
    if culprit is not None:
        return f"bisect culprit {culprit.short}"
    top = report.findings.hypotheses[0] if report.findings and report.findings.hypotheses else None
    if top is None:
        return "no hypothesis"
    commit = f" {top.suspect_commit[:12]}" if top.suspect_commit else ""
    return f"top hypothesis [{top.category}]{commit}: {top.title}"


def evaluate(bundle: Path, settings: Settings | None = None, backends: Backends = "files",
             servers: Servers | None = None) -> ScenarioResult:
    """Replay and check one bundle; a replay that breaks is a failed result, not a crash; a
    bundle that needs the real backends is skipped (with the reason) under `files`."""
    try:
        if backends == "files" and (reason := real_reason(bundle, load_scenario(bundle).requires)):
            return ScenarioResult(scenario=bundle.name, checks=[], truth=_truth(bundle),
                                  skipped=f"needs --backends real: {reason}")
        scenario, outcome, where = _run(bundle, settings, None, None, backends, servers)
    except Exception as exc:
        return ScenarioResult(scenario=bundle.name, checks=[], error=f"{type(exc).__name__}: {exc}",
                              truth=_truth(bundle), backend=backends)
    concluded = conclusion_of(outcome.report)
    return ScenarioResult(scenario=scenario.name, checks=check(scenario, outcome),
                          report_path=str(outcome.markdown_path),
                          truth=scenario.expectations.truth(), predicted=concluded.predicted,
                          confidence=concluded.confidence, blamed_commit=concluded.blamed_commit,
                          backend=backends, connectors=connector_use(outcome.report, where))


def _truth(bundle: Path) -> str | None:
    """The bundle's true category, if its scenario.yaml is readable."""
    try:
        return load_scenario(bundle).expectations.truth()
    except ScenarioError:
        return None


def find_bundles(paths: list[Path]) -> list[Path]:
    """Bundles named directly, or found one level below a directory of bundles."""
    found: list[Path] = []
    for path in paths:
        if (path / "scenario.yaml").is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p.parent for p in path.glob("*/scenario.yaml"))
        else:
            raise ScenarioError(f"{path}: not a scenario bundle or a directory of bundles")
    return found
