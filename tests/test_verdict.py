"""The verdict stage's reconciliation: reproduction and bisect outrank correlation."""

from __future__ import annotations

from triage.agent.base import Findings, Hypothesis
from triage.fix.records import BisectRecord, CommitInfo, FixRecord, FixSection, ReproRecord
from triage.fix.verdict import Verdict
from triage.verdict import blames_change, reconcile

DEPLOY = "6457c33dee760e578c329b355b6976c54c793fee"
CULPRIT = "8d41ce5b1eb85485bf1992b8238809fd2920c3f3"
CONFIG_DIFF = '''diff --git a/app/config.py b/app/config.py
--- a/app/config.py
+++ b/app/config.py
@@ -3,3 +3,3 @@
 # upstream calls
-TIMEOUT_SECONDS = 30
+TIMEOUT_SECONDS = 3
 RETRIES = 2
diff --git a/tests/test_config.py b/tests/test_config.py
--- a/tests/test_config.py
+++ b/tests/test_config.py
@@ -1 +1 @@
-assert TIMEOUT_SECONDS == 30
+assert TIMEOUT_SECONDS == 3
'''
CODE_DIFF = '''diff --git a/cart/totals.py b/cart/totals.py
--- a/cart/totals.py
+++ b/cart/totals.py
@@ -1,2 +1,3 @@
-    return sum(float(i["price"]) for i in items)
+    total = Decimal(0)
+    return total + sum(float(i["price"]) for i in items)
'''


def _findings() -> Findings:
    deploy = Hypothesis(category="bad-deploy", title="Bad deploy: checkout deploy 6457c33dee76",
                        confidence=0.69, rationale=["deploy 3 min before the onset"],
                        evidence=["s1"], suspect_commit=DEPLOY)
    surge = Hypothesis(category="traffic-surge", title="Traffic surge: requests rose 5x",
                       confidence=0.6, rationale=["http_requests_total rose"], evidence=["s2"])
    return Findings(brain="rules", summary="Bad deploy: checkout deploy 6457c33dee76 (69%)",
                    hypotheses=[deploy, surge])


def _repro(verdict: Verdict) -> ReproRecord:
    return ReproRecord(status=verdict.value, verdict=verdict, reason="the repro passed (exit 0)"
                       if verdict == Verdict.NOT_REPRODUCED else "the repro failed (exit 1)",
                       commit=DEPLOY, good_commit="a" * 40, deploy={"commit": DEPLOY})


def _bisected(diff: str, files: list[str], verified: bool) -> FixSection:
    culprit = CommitInfo(sha=CULPRIT, subject="Lower the upstream timeout", author="Lee Park",
                         files=files, diff=diff)
    return FixSection(
        repro=_repro(Verdict.REPRODUCED),
        bisect=BisectRecord(status="found", reason="first bad commit 8d41ce5b1eb8",
                            culprits=[culprit]),
        fix=FixRecord(status="verified" if verified else "failed", reason="..."))


def test_not_reproduced_demotes_the_deploy_and_the_summary_says_so() -> None:
    reconciled = reconcile(_findings(), FixSection(repro=_repro(Verdict.NOT_REPRODUCED)))
    top = reconciled.hypotheses[0]
    assert top.category == "traffic-surge"
    assert reconciled.summary.startswith("Traffic surge")
    deploy = next(h for h in reconciled.hypotheses if h.category == "bad-deploy")
    assert deploy.confidence < 0.35
    assert deploy.counter_evidence[0].startswith("not reproduced")
    assert any("not reproduced" in note for note in reconciled.notes)


def test_not_reproduced_with_only_a_deploy_hypothesis_abstains() -> None:
    findings = _findings()
    findings.hypotheses = findings.hypotheses[:1]
    reconciled = reconcile(findings, FixSection(repro=_repro(Verdict.NOT_REPRODUCED)))
    assert reconciled.abstained
    assert reconciled.summary.startswith("Evidence is too weak to name a cause")
    assert "not reproduced" in reconciled.summary


def test_reproduced_and_bisected_puts_the_culprit_first_with_the_lines_it_changed() -> None:
    reconciled = reconcile(_findings(), _bisected(CODE_DIFF, ["cart/totals.py"], verified=True))
    top = reconciled.hypotheses[0]
    assert top.category == "bad-deploy"
    assert top.suspect_commit == CULPRIT
    assert top.confidence >= 0.9
    assert reconciled.summary.startswith(top.title)
    assert "8d41ce5b1eb8" in top.title and "6457c33dee76" in top.title
    assert any(why.startswith("changed:") and "Decimal" in why for why in top.rationale)
    assert not reconciled.abstained
    # the brain's deploy hypothesis is folded into the culprit's, not listed twice
    assert sum(blames_change(h) for h in reconciled.hypotheses) == 1


def test_a_culprit_that_changes_a_default_is_a_config_change() -> None:
    fix = _bisected(CONFIG_DIFF, ["app/config.py", "tests/test_config.py"], verified=False)
    top = reconcile(_findings(), fix).hypotheses[0]
    assert top.category == "config-change"
    assert "changed: `TIMEOUT_SECONDS = 30` → `TIMEOUT_SECONDS = 3`" in top.rationale


def test_reproduced_without_a_single_culprit_supports_the_deploy() -> None:
    fix = FixSection(repro=_repro(Verdict.REPRODUCED),
                     bisect=BisectRecord(status="skipped", reason="no last good deploy"))
    findings = _findings()
    findings.hypotheses[0].confidence = 0.4
    reconciled = reconcile(findings, fix)
    assert reconciled.hypotheses[0].category == "bad-deploy"
    assert reconciled.hypotheses[0].confidence >= 0.8


def test_inconclusive_or_no_reproduction_leaves_the_brain_alone() -> None:
    findings = _findings()
    assert reconcile(findings, FixSection(repro=_repro(Verdict.INCONCLUSIVE))) == findings
    assert reconcile(findings, None) == findings
