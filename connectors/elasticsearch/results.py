"""Turn search, count and field-caps responses into rows and a compact summary for the brain."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from connectors.elasticsearch.dsl import FieldNames, QueryPlan
from connectors.elasticsearch.requests import HISTOGRAM, TOP, ReadRequest

_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Rendered:
    """Rows, the count they stand for, and a summary."""

    rows: list[dict[str, Any]]
    total: int
    summary: str


def render(plan: QueryPlan, sent: ReadRequest, response: dict[str, Any], names: FieldNames) -> Rendered:
    """Rows and summary for one response, by verb."""
    if plan.verb == "fields":
        return _fields(response)
    if plan.verb == "count":
        count = int(response.get("count", 0))
        return Rendered([{"count": count}], 1, f"{count} documents match{shard_notes(response)}")
    if plan.verb == "histogram":
        return _histogram(response, sent)
    if plan.verb == "top":
        return _top(response, plan)
    return _search(response, sent, names)


def flatten(source: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted keys (`service.name`); lists of objects become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in source.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
            flat[name] = json.dumps(value, separators=(",", ":"), default=str)
        else:
            flat[name] = value
    return flat


def total_hits(response: dict[str, Any]) -> tuple[int, str]:
    total = response.get("hits", {}).get("total", 0)
    if isinstance(total, dict):
        value = int(total.get("value", 0))
        return value, ("≥" if total.get("relation") == "gte" else "")
    return int(total), ""


def shard_notes(response: dict[str, Any]) -> str:
    """A warning when the answer is partial: timed out, or some shards failed."""
    notes: list[str] = []
    if response.get("timed_out"):
        notes.append("PARTIAL: the search timed out on the server")
    shards = response.get("_shards") or {}
    if shards.get("failed"):
        reasons = {str((failure.get("reason") or {}).get("reason", "?"))
                   for failure in shards.get("failures") or [] if isinstance(failure, dict)}
        detail = f": {'; '.join(sorted(reasons))[:300]}" if reasons else ""
        notes.append(f"PARTIAL: {shards['failed']} of {shards.get('total', '?')} shards failed{detail}")
    return "".join(f"; {note}" for note in notes)


def sampled_summary(total: int, levels: Counter[str], rows: list[dict[str, Any]], names: FieldNames,
                    notes: str) -> str:
    """`N hits; levels: error=…; shown top: …` for a search under the cap policy (exact levels)."""
    parts = [f"{total} hits"]
    if levels:
        parts.append("levels: " + ", ".join(f"{level}={n}" for level, n in levels.most_common()))
    if rows:
        messages = Counter(_DIGITS.sub("N", str(row.get(names.message, "")))[:120] for row in rows)
        parts.append("shown top: " + "; ".join(f"{n}× {msg}" for msg, n in messages.most_common(3)))
    return "; ".join(parts) + notes


def _search(response: dict[str, Any], sent: ReadRequest, names: FieldNames) -> Rendered:
    hits = response.get("hits", {}).get("hits", [])
    rows = [{"_index": hit.get("_index"), "_id": hit.get("_id"), **flatten(hit.get("_source") or {})}
            for hit in hits]
    total, bound = total_hits(response)
    bucket_rows, agg_summary = _aggregation_rows(response.get("aggregations") or {})
    levels = Counter(str(row.get(names.level, "?")).lower() for row in rows)
    messages = Counter(_DIGITS.sub("N", str(row.get(names.message, "")))[:120] for row in rows)
    parts = [f"{bound}{total} hits"]
    if rows:
        parts[0] += f" (showing the newest {len(rows)})" if total > len(rows) else " (newest first)"
        parts.append("shown levels: " + ", ".join(f"{level}={n}" for level, n in levels.most_common()))
        parts.append("shown top: " + "; ".join(f"{n}× {msg}" for msg, n in messages.most_common(3)))
    if agg_summary:
        parts.append(agg_summary)
    parts.extend(sent.notes)
    return Rendered(bucket_rows + rows, len(bucket_rows) + total, "; ".join(parts) + shard_notes(response))


def _aggregation_rows(aggregations: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """One row per bucket (or per metric) of each top-level aggregation."""
    rows: list[dict[str, Any]] = []
    described: list[str] = []
    for name, result in aggregations.items():
        if not isinstance(result, dict):
            continue
        buckets = result.get("buckets")
        if isinstance(buckets, dict):  # keyed buckets (filters, ranges with keyed: true)
            buckets = [{"key": key, **value} for key, value in buckets.items()]
        if isinstance(buckets, list):
            for bucket in buckets:
                row = {"aggregation": name, "key": bucket.get("key_as_string", bucket.get("key")),
                       "doc_count": bucket.get("doc_count")}
                row.update({sub: value["value"] for sub, value in bucket.items()
                            if isinstance(value, dict) and "value" in value})
                rows.append(row)
            top = sorted(buckets, key=lambda b: -int(b.get("doc_count") or 0))[:3]
            shown = ", ".join(f"{b.get('key_as_string', b.get('key'))}={b.get('doc_count')}" for b in top)
            described.append(f"{name}: {len(buckets)} buckets (largest: {shown})")
        elif "value" in result:
            rows.append({"aggregation": name, "value": result["value"]})
            described.append(f"{name} = {result['value']}")
    return rows, "; ".join(described)


def _histogram(response: dict[str, Any], sent: ReadRequest) -> Rendered:
    buckets = response.get("aggregations", {}).get(HISTOGRAM, {}).get("buckets", [])
    rows = [{"time": b.get("key_as_string", b.get("key")), "count": int(b.get("doc_count", 0))}
            for b in buckets]
    total, bound = total_hits(response)
    interval = sent.body["aggs"][HISTOGRAM]["date_histogram"]["fixed_interval"]
    if not total:
        return Rendered(rows, 0, "no documents matched" + shard_notes(response))
    nonzero = [row for row in rows if row["count"]]
    peak = max(rows, key=lambda row: row["count"])
    summary = (f"{bound}{total} documents in {len(rows)} buckets of {interval}; "
               f"peak {peak['count']} at {peak['time']}; "
               f"first at {nonzero[0]['time']}, last at {nonzero[-1]['time']}" if nonzero else
               f"{bound}{total} documents in {len(rows)} buckets of {interval}")
    return Rendered(rows, len(rows), summary + shard_notes(response))


def _top(response: dict[str, Any], plan: QueryPlan) -> Rendered:
    result = response.get("aggregations", {}).get(TOP, {})
    buckets = result.get("buckets", [])
    rows = [{"value": b.get("key_as_string", b.get("key")), "count": int(b.get("doc_count", 0))}
            for b in buckets]
    total, bound = total_hits(response)
    if not rows:
        return Rendered([], 0, f"no values of {plan.term_field} among {bound}{total} matching documents"
                        + shard_notes(response))
    shown = "; ".join(f"{row['count']}× {str(row['value'])[:120]}" for row in rows[:5])
    other = int(result.get("sum_other_doc_count") or 0)
    tail = f"; {other} more in other values" if other else ""
    summary = f"{bound}{total} documents; top {plan.term_field}: {shown}{tail}"
    return Rendered(rows, len(rows), summary + shard_notes(response))


def _fields(response: dict[str, Any]) -> Rendered:
    rows: list[dict[str, Any]] = []
    for name, by_type in sorted((response.get("fields") or {}).items()):
        if name.startswith("_") or not isinstance(by_type, dict):
            continue  # metadata fields (_id, _index, ...) are the same everywhere
        types = sorted(by_type)
        caps = [by_type[kind] for kind in types if isinstance(by_type[kind], dict)]
        rows.append({
            "field": name,
            "type": ",".join(types),
            "searchable": all(cap.get("searchable", False) for cap in caps),
            "aggregatable": all(cap.get("aggregatable", False) for cap in caps),
        })
    listed = ", ".join(f"{row['field']} ({row['type']})" for row in rows[:20])
    more = f", … {len(rows) - 20} more" if len(rows) > 20 else ""
    return Rendered(rows, len(rows), f"{len(rows)} fields: {listed}{more}")
