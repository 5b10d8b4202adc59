"""The text of the first-response and final notes, shaped for how PagerDuty shows notes: plain
text (no Markdown; line breaks kept; URLs made clickable), read on a phone, under the API's size
limit.

A note is a body (cut at a line when too long) and a footer that is never cut: the report link
and the marker line that makes posting idempotent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from triage.models import StepRecord
from triage.report.build import Report

# PagerDuty's limit on a note's content, in characters. The REST API reference documents no
# maxLength for `note.content` (only "a maximum of 2000 notes can be added to an incident");
# 25,000 is the limit the web app enforces. Notes stay far below it anyway: NOTE_BUDGET.
PAGERDUTY_NOTE_LIMIT = 25_000
NOTE_BUDGET = 3_000  # what one reads on a phone before giving up; the report has the rest
MAX_SIGNALS = 5
MAX_HYPOTHESES = 3
MAX_REASONS = 2
MAX_LINE = 280
CUT = "… (cut: the full report is at the link below)"


class NoteKind(StrEnum):
    """Which of an investigation's two notes."""

    FIRST = "first"
    FINAL = "final"


def marker(investigation_id: str, kind: NoteKind) -> str:
    """The tag that identifies one note of one investigation on the incident."""
    return f"triage:{investigation_id}:{kind.value}"


def first_note(report: Report, link: str) -> tuple[str, str]:
    """Body and footer of the first-response note: the strongest signals so far, and the link."""
    queries = report.queries
    failed = sum(q.status == "error" for q in queries)
    lines = ["Automated triage: first look (read-only; hypotheses follow when it finishes)",
             f"Service: {report.service or 'unmapped'}"
             + (f" · playbook {report.playbook}" if report.playbook else "")
             + f" · {len(queries)} quer{'y' if len(queries) == 1 else 'ies'} run"
             + (f", {failed} failed" if failed else "")]
    signals = sorted(report.signals, key=lambda s: s.strength, reverse=True)
    if signals:
        lines += ["", "Strongest signals so far:"]
        lines += [_line(f"- {s.title} ({s.strength:.0%}" + (f", from {_hhmm(s.onset)}"
                                                             if s.onset else "") + ")")
                  for s in signals[:MAX_SIGNALS]]
        if len(signals) > MAX_SIGNALS:
            lines.append(f"- and {len(signals) - MAX_SIGNALS} more in the report")
    else:
        lines += ["", "No signal stood out in the evidence gathered so far."]
    lines += [_line(f"Note: {note}") for note in report.notes[:2]]
    return "\n".join(lines), f"Live report: {link}"


def final_note(report: Report, steps: list[StepRecord], link: str) -> tuple[str, str]:
    """Body and footer of the final note: hypotheses, the repro verdict and the pull request."""
    findings = report.findings
    lines = [_line(f"Automated triage finished: {report.summary}")]
    if report.error:
        lines.append(_line(f"Error: {report.error}"))
    hypotheses = findings.hypotheses if findings else []
    if hypotheses:
        names = {s.id: s.name for s in report.steps}
        heading = ("Leads (the evidence is too weak to name a cause):"
                   if findings and findings.abstained else "Hypotheses:")
        lines += ["", heading]
        for rank, h in enumerate(hypotheses[:MAX_HYPOTHESES], 1):
            lines.append(_line(f"{rank}. [{h.category}] {h.title} ({h.confidence:.0%})"))
            lines += [_line(f"   - {why}") for why in h.rationale[:MAX_REASONS]]
            if h.evidence:
                cited = ", ".join(names.get(e, e) for e in h.evidence[:4])
                lines.append(_line(f"   evidence: {cited}"))
        if len(hypotheses) > MAX_HYPOTHESES:
            lines.append(f"and {len(hypotheses) - MAX_HYPOTHESES} more in the report")
    if report.followed and report.followed.hops:
        lines += ["", _line(report.followed.summary())]
    lines += _fix_lines(steps)
    return "\n".join(lines), f"Report: {link}"


def _fix_lines(steps: list[StepRecord]) -> list[str]:
    """The repro verdict and the candidate fix, from the fix stages' steps (if they ran)."""
    latest = {s.name: s.detail for s in steps if s.name in ("repro", "fix", "publish")}
    lines: list[str] = []
    repro = latest.get("repro") or {}
    if repro.get("status") in ("reproduced", "not_reproduced", "inconclusive"):
        verdict = str(repro["status"]).replace("_", " ")
        lines.append(_line(f"Reproduction: {verdict}"
                           + (f" at {str(repro['commit'])[:12]}" if repro.get("commit") else "")
                           + (f" — {repro['reason']}" if repro.get("reason") else "")))
    fix = latest.get("fix") or {}
    if fix.get("status") == "verified":
        lines.append(_line(f"Candidate fix ({fix.get('kind', 'revert')}): verified in the sandbox "
                           "(repro passes, tests pass)"))
    url = _pull_request_url(latest.get("publish") or {})
    if url:
        lines.append(f"Draft pull request (not merged): {url}")
    return ["", *lines] if lines else []


def _pull_request_url(publish: dict[str, Any]) -> str | None:
    """The draft pull request's URL from a `publish` step, if one was opened."""
    pull = publish.get("pull_request")
    if isinstance(pull, dict) and isinstance(pull.get("url"), str):
        return str(pull["url"])
    return None


def compose(body: str, footer: str, tag: str, limit: int = NOTE_BUDGET) -> str:
    """The note: body cut at a line (never mid-link) to fit `limit` with the footer and marker."""
    limit = min(limit, PAGERDUTY_NOTE_LIMIT)
    tail = f"\n\n{footer}\n[{tag}]"
    room = limit - len(tail)
    if room <= len(CUT) + 1:
        raise ValueError(f"a {limit}-character note cannot hold its footer ({len(tail)} chars)")
    if len(body) <= room:
        return body + tail
    kept: list[str] = []
    used = 0
    for line in body.split("\n"):
        if used + len(line) + 1 > room - len(CUT) - 1:
            break
        kept.append(line)
        used += len(line) + 1
    if not kept:  # one huge first line: cut inside it
        kept = [body[: room - len(CUT) - 1]]
    return "\n".join([*kept, CUT]) + tail


def _line(text: str) -> str:
    """One line, without embedded line breaks, at most MAX_LINE characters."""
    flat = " ".join(text.split("\n"))
    return flat if len(flat) <= MAX_LINE else flat[: MAX_LINE - 1] + "…"


def _hhmm(when: datetime) -> str:
    """A time of day as notes show it."""
    return when.strftime("%H:%M UTC")
