"""What a report chart shows, as stored in the report body: bounded, JSON-ready, no rendering.

A series chart is one symptom series (error lines per minute, one error template per minute, a
metric) with its baseline band, the detected onset, the alert time and every deploy as markers;
a bar chart is the drill-down (which attribute value the failing traffic shares). Reports stored
before charts existed have none and render as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

MAX_CHARTS = 6
MAX_POINTS = 120  # a phone-width chart shows no more; longer series are averaged into buckets
MAX_MARKERS = 14  # onset, alert and at most a dozen deploys
MAX_BARS = 4


class Marker(BaseModel):
    """A moment drawn as a vertical line: the onset, the alert, or a deploy."""

    at: datetime
    kind: Literal["onset", "alert", "deploy"]
    label: str = Field(max_length=40)


class Band(BaseModel):
    """Where the series lived before the onset: its 5th to 95th percentile, and its median."""

    low: float
    high: float
    median: float


class SeriesChart(BaseModel):
    """One symptom series over the analysis window."""

    type: Literal["series"] = "series"
    title: str = Field(max_length=200)
    unit: str = Field(max_length=40, description="what the y axis counts")
    times: list[datetime] = Field(max_length=MAX_POINTS)
    values: list[float] = Field(max_length=MAX_POINTS)
    band: Band | None = None
    markers: list[Marker] = Field(default_factory=list, max_length=MAX_MARKERS)
    start: datetime | None = Field(default=None, description="the analysis window, so every "
                                   "chart of a report spans the same minutes")
    end: datetime | None = None


class Bar(BaseModel):
    """One attribute value with its two shares (0..1)."""

    label: str = Field(max_length=80)
    first: float = Field(ge=0.0, le=1.0)
    second: float = Field(ge=0.0, le=1.0)


class BarChart(BaseModel):
    """The drill-down: each value's share of the anomaly against its share of the traffic (or of
    the baseline against the incident window, when the traffic itself shifted)."""

    type: Literal["bars"] = "bars"
    title: str = Field(max_length=200)
    first_label: str = Field(max_length=40)
    second_label: str = Field(max_length=40)
    bars: list[Bar] = Field(max_length=MAX_BARS)


Chart = Annotated[SeriesChart | BarChart, Field(discriminator="type")]


def describe(chart: SeriesChart | BarChart) -> str:
    """Alternative text: what the chart shows, in a sentence (the image's alt and Slack's)."""
    if isinstance(chart, BarChart):
        parts = [f"{bar.label}: {bar.first:.0%} {chart.first_label}, "
                 f"{bar.second:.0%} {chart.second_label}" for bar in chart.bars]
        return f"{chart.title}. " + "; ".join(parts)
    marks = "; ".join(f"{m.kind if m.label == m.kind else f'{m.kind} {m.label}'} at "
                      f"{m.at:%H:%M} UTC" for m in chart.markers)
    peak = max(chart.values, default=0.0)
    base = (f" Baseline {chart.band.low:.4g} to {chart.band.high:.4g}." if chart.band else "")
    return f"{chart.title} ({chart.unit}), peak {peak:.4g}.{base} {marks}".strip()
