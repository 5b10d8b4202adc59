"""Timestamps as they appear in files and payloads, parsed to aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> datetime:
    """Parse ISO 8601 text or epoch seconds/milliseconds; naive times are taken as UTC."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError) as exc:  # out of datetime's range, or inf / nan
            raise ValueError(f"timestamp out of range: {value!r}") from exc
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        return parse_timestamp(float(text))
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
