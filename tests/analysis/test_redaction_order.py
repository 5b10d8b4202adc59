"""Redaction runs on the raw line before masking, mining or sampling: templates, samples and
summaries carry no whole or partial secret, even when the caller hands over raw rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connectors import Evidence, EvidenceKind, EvidenceStatus
from tests.analysis.leaks import partial_leaks
from tests.analysis.redaction_corpus import PLANTS
from triage.analysis.compaction import LogLine, compact_logs
from triage.analysis.logs import new_error_templates
from triage.analysis.redaction import default_redactor
from triage.analysis.signals import AnalysisWindow, CitedEvidence
from triage.analysis.templates import TemplateWindows

T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
WINDOW = AnalysisWindow(start=T0, onset=T0 + timedelta(minutes=45), end=T0 + timedelta(minutes=60))
REDACT = default_redactor().redact_text
# Masking keeps the digit-free parts of a slashed key raw (`wJalrXUtnFEMI/<ID>/bPxRfiCY…`): a
# template mined before redaction leaks them.
AWS_SECRETS = ["wJalrXUtnFEMIxK7MDENGxbPxRfiCYqAz9/Lw2p+Gk3/hV8sZr5yTnQ", "AKIAUJZDE8GXD6NCF10E"]


def _lines() -> list[tuple[datetime, str]]:
    lines = [(T0 + timedelta(minutes=i % 45), f"GET /api/cart/{i} 200 in {i % 700}ms") for i in range(200)]
    texts = [f"upload signed with aws_secret_access_key={AWS_SECRETS[0][:40]} and key {AWS_SECRETS[1]}",
             *(p.text for p in PLANTS)]
    for n in range(3):
        lines += [(T0 + timedelta(minutes=46 + n + i / 100), f"checkout failed: {text}")
                  for i, text in enumerate(texts)]
    return lines


def _secrets() -> list[str]:
    return [AWS_SECRETS[0][:40], AWS_SECRETS[1], *(s for p in PLANTS for s in p.secrets)]


def test_templates_and_samples_are_made_from_redacted_lines() -> None:
    windows = TemplateWindows(WINDOW, samples=3, redact=REDACT)
    for stamp, message in _lines():
        windows.add(stamp, message)
    diff = windows.diff()
    shown = json.dumps([c.as_detail() for c in [*diff.new, *diff.risen, *diff.top]])
    assert "[redacted:aws-secret-key]" in shown
    assert partial_leaks(shown, _secrets()) == []


def test_the_brains_log_summary_has_no_partial_secret() -> None:
    lines = [LogLine(stamp, message, "error") for stamp, message in _lines()]
    summary = compact_logs(lines, WINDOW, budget_tokens=50_000, redact=REDACT)
    assert "[redacted:" in summary
    assert partial_leaks(summary, _secrets()) == []


def test_error_template_signals_over_raw_rows_carry_no_secret() -> None:
    rows = [{"timestamp": stamp.isoformat(), "level": "error", "message": message}
            for stamp, message in _lines()]
    evidence = Evidence(connector="logs", kind=EvidenceKind.LOGS, status=EvidenceStatus.OK,
                        query="*", start=WINDOW.start, end=WINDOW.end, rows=rows)
    signal = new_error_templates(CitedEvidence("s1", evidence), WINDOW, redact=REDACT)
    assert signal is not None
    assert partial_leaks(signal.model_dump_json(), _secrets()) == []
