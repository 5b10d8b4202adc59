"""Report charts drawn server-side with matplotlib (its SVG and Agg backends only, through
`matplotlib.figure.Figure`: never pyplot's global state, which a server thread must not touch).

    svg = chart_svg(chart)          # an SVG document: text as <text>, no script, viewBox scaled
    png = chart_png(chart)          # the same chart as a PNG (Slack's image block)
    shown = rendered(report.charts) # [(chart, data URI, alt text)], failures logged and omitted

The page shows each SVG as an `<img>` with a data URI: the page's CSP (`img-src 'self' data:`)
allows it, and an SVG loaded as an image can run nothing and load nothing, whatever it holds.
Renders are cached by the chart's JSON, so a stored report's charts are drawn once per process.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from triage.report.charts_model import BarChart, SeriesChart, describe

log = logging.getLogger(__name__)
WIDTH, HEIGHT = 5.0, 2.9  # inches at 72 user units each: a 360-unit viewBox, ~1:1 on a phone
FONT = 10.5
PNG_DPI = 144
COLOURS = {"line": "#3a5ccc", "band": "#3a5ccc", "onset": "#e07b00", "alert": "#b00020",
           "deploy": "#6a3d9a", "first": "#b00020", "second": "#9aa0a6"}
STYLES: dict[str, Literal["-", "--", ":"]] = {"onset": "-", "alert": "--", "deploy": ":"}
# matplotlib draws with a font engine that is not thread-safe; renders are short and cached.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Rendered:
    """One chart ready for the page."""

    chart: SeriesChart | BarChart
    data_uri: str
    alt: str
    width: int = round(WIDTH * 96)  # CSS pixels: the <img>'s proportions before CSS scales it
    height: int = round(HEIGHT * 96)


def _config_dir() -> None:
    """Give matplotlib a writable config and font-cache directory that outlives the process:
    without a writable home it would build its font cache anew in a fresh temp dir every start."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    try:
        home = Path.home()
        for default in (Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config"),
                        Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")):
            (default / "matplotlib").mkdir(parents=True, exist_ok=True)
            if not os.access(default / "matplotlib", os.W_OK):
                raise PermissionError(default)
        return
    except (OSError, RuntimeError):
        pass
    fallback = Path(tempfile.gettempdir()) / f"triage-matplotlib-{os.getuid()}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
        usable = fallback.stat().st_uid == os.getuid() and os.access(fallback, os.W_OK)
    except OSError:
        usable = False
    # Someone else's directory of that name is never trusted: a private one for this process.
    os.environ["MPLCONFIGDIR"] = str(fallback if usable else tempfile.mkdtemp(prefix="triage-mpl-"))


@cache
def _matplotlib() -> ModuleType:
    """matplotlib, imported on first use (the app starts without paying for it)."""
    _config_dir()
    import matplotlib

    # Set once, before any figure: text stays text (small, legible, searchable) and ids are
    # stable, so the same chart renders to the same bytes.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "triage-report",
                                "font.size": FONT, "axes.titlesize": FONT + 1})
    return matplotlib


def _figure() -> Any:
    """A new figure with the chart layout (constrained: labels never fall off the viewBox)."""
    _matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, HEIGHT), dpi=72, layout="constrained")


def _draw_series(chart: SeriesChart) -> Any:
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.lines import Line2D

    fig = _figure()
    ax = fig.add_subplot()
    handles: list[Any] = []
    if chart.band is not None:
        span = ax.axhspan(chart.band.low, chart.band.high, color=COLOURS["band"], alpha=0.15,
                          linewidth=0, label="baseline")
        span.set_gid("baseline-band")
        handles.append(span)
    ax.plot(chart.times, chart.values, color=COLOURS["line"], linewidth=1.6, gid="series")
    deploys = [m for m in chart.markers if m.kind == "deploy"]
    for index, marker in enumerate(chart.markers):
        gid = f"marker-{marker.kind}" + (f"-{index}" if marker.kind == "deploy" else "")
        ax.axvline(marker.at, color=COLOURS[marker.kind], linestyle=STYLES[marker.kind],
                   linewidth=1.4, gid=gid)
        if marker.kind != "deploy":
            label = f"{marker.label} {marker.at.astimezone(UTC):%H:%M}"
            handles.append(Line2D([], [], color=COLOURS[marker.kind],
                                  linestyle=STYLES[marker.kind], label=label))
    if deploys:
        label = (f"deploy {deploys[0].label}" if len(deploys) == 1
                 else f"{len(deploys)} deploys")
        handles.append(Line2D([], [], color=COLOURS["deploy"], linestyle=STYLES["deploy"],
                              label=label))
    if chart.start is not None and chart.end is not None:
        ax.set_xlim(chart.start, chart.end)
    ax.set_title(chart.title, loc="left", wrap=True)
    ax.set_ylabel(chart.unit)
    # matplotlib.dates is not annotated
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=5, tz=UTC))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=UTC))  # type: ignore[no-untyped-call]
    ax.set_ylim(bottom=min(0.0, *chart.values) if chart.values else 0.0)
    ax.grid(axis="y", alpha=0.3)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False,
                   fontsize=FONT - 0.5)
    return fig


def _draw_bars(chart: BarChart) -> Any:
    fig = _figure()
    ax = fig.add_subplot()
    rows = list(range(len(chart.bars)))[::-1]  # first bar on top
    height = 0.38
    ax.barh([r + height / 2 for r in rows], [b.first * 100 for b in chart.bars], height,
            color=COLOURS["first"], label=chart.first_label, gid="bars-first")
    ax.barh([r - height / 2 for r in rows], [b.second * 100 for b in chart.bars], height,
            color=COLOURS["second"], label=chart.second_label, gid="bars-second")
    ax.set_yticks(rows, [_short(b.label, 24) for b in chart.bars])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of rows")
    ax.set_title(chart.title, loc="left")
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=FONT - 0.5)
    return fig


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _draw(chart: SeriesChart | BarChart) -> Any:
    return _draw_bars(chart) if isinstance(chart, BarChart) else _draw_series(chart)


@lru_cache(maxsize=128)
def _svg(chart_json: str) -> str:
    chart = _parse(chart_json)
    with _LOCK:
        fig = _draw(chart)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    # Its width and height (pt) give the <img> its proportions; CSS scales it to the column.
    return out.getvalue()


@lru_cache(maxsize=32)
def _png(chart_json: str) -> bytes:
    chart = _parse(chart_json)
    with _LOCK:
        fig = _draw(chart)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=PNG_DPI, metadata={"Software": None})
    return out.getvalue()


def _parse(chart_json: str) -> SeriesChart | BarChart:
    from pydantic import TypeAdapter

    from triage.report.charts_model import Chart

    parsed: SeriesChart | BarChart = TypeAdapter(Chart).validate_json(chart_json)
    return parsed


def chart_svg(chart: SeriesChart | BarChart) -> str:
    """The chart as a standalone SVG document (width 100%, scaled by its viewBox)."""
    return _svg(chart.model_dump_json())


def chart_png(chart: SeriesChart | BarChart) -> bytes:
    """The chart as a PNG at twice the SVG's resolution."""
    return _png(chart.model_dump_json())


def headline(charts: list[SeriesChart | BarChart]) -> SeriesChart | BarChart | None:
    """The chart to show first and alone (Slack): the strongest symptom's series."""
    return next((c for c in charts if isinstance(c, SeriesChart)), charts[0] if charts else None)


def rendered(charts: list[SeriesChart | BarChart]) -> list[Rendered]:
    """Each chart as an `<img>` data URI with its alt text; one that fails to draw is logged and
    left out (the report never breaks for a chart)."""
    shown = []
    for chart in charts:
        try:
            svg = chart_svg(chart)
        except Exception:
            log.exception("chart %r could not be drawn; left out of the report", chart.title)
            continue
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        shown.append(Rendered(chart, uri, describe(chart)))
    return shown
