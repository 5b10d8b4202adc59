"""Repro commands templated from the alert and the evidence: `{name}` placeholders in argv.

Values come from built-ins (`commit`, `service`, `alert_title`, `alert_started_at`,
`investigation_id`) and from the repro's `inputs`, each taken from a gathered evidence row (the
failing request a log line recorded, say). Evidence is redacted before it is stored, so an input
holds the redacted text. Values become whole argv elements: no shell ever parses them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from connectors import Evidence, EvidenceStatus
from triage.fix.config import PLACEHOLDER, ReproInput, ReproSpec


class InputMissing(Exception):
    """An input of the repro could not be found in the gathered evidence."""


def render(args: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """Every argument with its placeholders replaced (`{{` / `}}` are literal braces)."""

    def one(match: re.Match[str]) -> str:
        """A placeholder's value, or the literal brace of a doubled one."""
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values[match.group(1)]

    return [PLACEHOLDER.sub(one, arg) for arg in args]


def resolve_inputs(spec: ReproSpec, evidence: Iterable[Evidence]) -> dict[str, str]:
    """The value of each input, from the newest (or oldest) row that matches it."""
    gathered = [ev for ev in evidence if ev.status == EvidenceStatus.OK]
    return {name: _value(name, wanted, gathered) for name, wanted in spec.inputs.items()}


def _value(name: str, wanted: ReproInput, evidence: list[Evidence]) -> str:
    """One input's value; InputMissing says what was looked for."""
    pattern = re.compile(wanted.match)
    rows = [row for ev in evidence if ev.kind == wanted.kind for row in ev.rows]
    found = [(row, hit) for row in rows if (hit := pattern.search(_text(row)))]
    if not found:
        raise InputMissing(f"input {name!r}: no gathered {wanted.kind.value} row matches "
                           f"{wanted.match!r} ({len(rows)} row(s) searched)")
    row, hit = found[-1] if wanted.pick == "last" else found[0]
    if wanted.field is None:
        return hit.group(1) if pattern.groups else _text(row)
    value = row[wanted.field] if wanted.field in row else _nested(row, wanted.field)
    if value is None and wanted.field not in row:
        raise InputMissing(f"input {name!r}: the matching row has no field {wanted.field!r} "
                           f"(fields: {', '.join(sorted(row))})")
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _nested(row: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The object a backend flattened into `field.key` columns (Elasticsearch rows), rebuilt."""
    found: dict[str, Any] = {}
    for key, value in row.items():
        if key.startswith(field + "."):
            *parents, leaf = key[len(field) + 1:].split(".")
            node = found
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = _listed(value)
    return found or None


def _listed(value: Any) -> Any:
    """A list the backend stored as compact JSON text in a flattened column, decoded."""
    if isinstance(value, str) and value.startswith("["):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value
    return value


def _text(row: dict[str, Any]) -> str:
    """What an input's regex is searched in: the row's message, else the whole row as JSON."""
    message = row.get("message")
    return message if isinstance(message, str) else json.dumps(row, sort_keys=True, default=str)
