"""Block Kit for the triage thread and the feedback modal, within Slack's limits: at most 50 blocks a
message, 3,000 characters a section text, 150 a header, 75 a button label. What does not fit is
cut at a line and pointed to the report, which has everything.
"""

from __future__ import annotations

from typing import Any

from triage.feedback import CATEGORIES
from triage.models import Alert
from triage.report.build import Report
from triage.report.charts import headline
from triage.report.charts_model import describe

MAX_BLOCKS = 50
SECTION_LIMIT = 3_000
HEADER_LIMIT = 150
IMAGE_URL_LIMIT = 3_000
ALT_LIMIT = 2_000
REPLY_BUDGET = 6_000  # characters of a reply's sections: a phone screen or two; the report has more
CUT = "… (cut: the full report is behind “Open report”)"
RIGHT, WRONG, AGAIN, OPEN = "triage_right", "triage_wrong", "triage_again", "triage_open"
WRONG_CAUSE_VIEW = "triage_wrong_cause"

Block = dict[str, Any]


def escape(text: str) -> str:
    """Text shown as mrkdwn literally: Slack's three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str, limit: int) -> dict[str, str]:
    flat = " ".join(text.split())
    return {"type": "plain_text", "text": flat if len(flat) <= limit else flat[: limit - 1] + "…"}


def sections(text: str, budget: int = REPLY_BUDGET, max_blocks: int = MAX_BLOCKS) -> list[Block]:
    """`text` as mrkdwn sections of at most SECTION_LIMIT characters, cut at a line to `budget`."""
    chunks: list[str] = []
    current: list[str] = []
    size = used = 0
    cut = False
    for raw in escape(text).split("\n"):
        line = raw if len(raw) <= SECTION_LIMIT - len(CUT) - 1 else raw[: SECTION_LIMIT // 2] + "…"
        if used + len(line) + 1 > budget - len(CUT) - 1 or len(chunks) + 1 >= max_blocks:
            cut = True
            break
        if size + len(line) + 1 > SECTION_LIMIT - len(CUT) - 1 and current:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
        used += len(line) + 1
    if cut:
        current.append(CUT)
    if current:
        chunks.append("\n".join(current))
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
            for chunk in chunks if chunk.strip()]


def parent_blocks(alert: Alert, service: str | None, link: str, verdict: str | None,
                  investigation_id: str) -> list[Block]:
    """The thread's parent: the alert, the service, the report link; the verdict once known."""
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"Triage: {alert.title}", HEADER_LIMIT)},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Service*\n{escape(service or 'unmapped')}"},
            {"type": "mrkdwn", "text": f"*Severity*\n{alert.severity.value}"},
            {"type": "mrkdwn", "text": f"*Source*\n{alert.source.value}"},
            {"type": "mrkdwn", "text": f"*Started*\n{alert.started_at:%Y-%m-%d %H:%M} UTC"}]},
    ]
    if verdict is None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Investigating (read-only). First findings and the verdict follow in the thread.")}]})
        blocks.append({"type": "actions", "elements": [_open(link, investigation_id)]})
        return blocks
    blocks += sections(f"Verdict: {verdict}", budget=SECTION_LIMIT, max_blocks=2)
    blocks.append({"type": "actions", "elements": [
        _button("Right cause", RIGHT, investigation_id, style="primary"),
        _button("Wrong cause…", WRONG, investigation_id, style="danger"),
        _button("Investigate again", AGAIN, investigation_id),
        _open(link, investigation_id)]})
    return blocks


def verdict_line(report: Report) -> str:
    """The verdict at a glance: the leading hypothesis, or why there is none."""
    findings = report.findings
    if report.error:
        return f"the investigation failed: {report.error}"
    if findings is None or not findings.hypotheses:
        return report.summary or "no hypothesis"
    top = findings.hypotheses[0]
    lead = "lead (too weak to name a cause)" if findings.abstained else "cause"
    return f"[{top.category}] {top.title} ({top.confidence:.0%} {lead})"


def reply_blocks(body: str, link: str, investigation_id: str,
                 image: Block | None = None) -> list[Block]:
    """A thread reply: the note's body as sections, the chart (`chart_block`) if given, then the
    report button."""
    return [*sections(body, max_blocks=MAX_BLOCKS - 1 - (image is not None)),
            *([image] if image is not None else []),
            {"type": "actions", "elements": [_open(link, investigation_id)]}]


def chart_block(report: Report, image_url: str) -> Block | None:
    """The report's headline chart as an image block (Slack downloads `image_url`, the report's
    signed `chart.png`), or None when the report has no chart or the URL is over Slack's limit."""
    chart = headline(report.charts)
    if chart is None or len(image_url) > IMAGE_URL_LIMIT:
        return None
    alt = " ".join(describe(chart).split())
    return {"type": "image", "image_url": image_url,
            "alt_text": alt if len(alt) <= ALT_LIMIT else alt[: ALT_LIMIT - 1] + "…",
            "title": _plain(chart.title, HEADER_LIMIT)}


def wrong_cause_view(investigation_id: str) -> Block:
    """The "Wrong cause…" modal: the right category (one of `triage.feedback.CATEGORIES`, so that
    Slack's feedback counts in `triage stats` like the command line's), the culprit, free text."""
    def field(block_id: str, label: str, placeholder: str, multiline: bool = False) -> Block:
        return {"type": "input", "block_id": block_id, "optional": True,
                "label": _plain(label, 2000),
                "element": {"type": "plain_text_input", "action_id": "value",
                            "multiline": multiline, "placeholder": _plain(placeholder, 150)}}

    category: Block = {
        "type": "input", "block_id": "category", "label": _plain("The right category", 2000),
        "element": {"type": "static_select", "action_id": "value",
                    "placeholder": _plain("what really caused it", 150),
                    "options": [{"text": _plain(name, 75), "value": name}
                                for name in CATEGORIES]}}
    return {"type": "modal", "callback_id": WRONG_CAUSE_VIEW, "private_metadata": investigation_id,
            "title": _plain("Wrong cause", 24), "submit": _plain("Record", 24),
            "close": _plain("Cancel", 24),
            "blocks": [category,
                       field("culprit", "Culprit commit", "a commit SHA (7 to 40 hex digits)"),
                       field("note", "What really happened", "free text", multiline=True)]}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": _plain(label, 75), "action_id": action_id,
                     "value": value}
    return button | ({"style": style} if style else {})


def _open(link: str, investigation_id: str) -> Block:
    return {"type": "button", "text": _plain("Open report", 75), "action_id": OPEN,
            "value": investigation_id, "url": link}
