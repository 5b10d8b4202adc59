"""Markdown and HTML renderings of a report (Jinja2 templates in `templates/`)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from triage.report.build import Report
from triage.report.charts import rendered
from triage.report.safety import page_css, safe_url

_ENV = Environment(
    loader=PackageLoader("triage.report", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["pct"] = lambda value: f"{float(value):.0%}"
_ENV.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, default=str)
_ENV.filters["hhmm"] = lambda value: value.strftime("%Y-%m-%d %H:%M:%S UTC")
_ENV.filters["hms"] = lambda value: value.strftime("%H:%M:%S")
_ENV.filters["took"] = lambda seconds: (f"{seconds * 1000:.0f} ms" if seconds < 1
                                        else f"{seconds:.1f} s")
_ENV.filters["shjoin"] = lambda argv: shlex.join(str(arg) for arg in argv)
# Every URL from input goes through `safe_url` before it becomes a link (no javascript:).
_ENV.filters["safe_url"] = safe_url
_ENV.globals["page_css"] = page_css


def _context(report: Report) -> dict[str, Any]:
    return {"r": report, "steps_by_id": {s.id: s for s in report.steps}}


def render_markdown(report: Report) -> str:
    """The report as Markdown (for notes, pull requests and the CLI)."""
    return _ENV.get_template("report.md.j2").render(_context(report))


def render_html(report: Report) -> str:
    """The report as a standalone HTML page, its charts drawn in (as SVG images)."""
    return _ENV.get_template("report.html.j2").render(_context(report),
                                                      charts=rendered(report.charts))
