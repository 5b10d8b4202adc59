"""Deep links into Kibana Discover or OpenSearch Dashboards Discover for one query and time range.

Both apps keep their state in the URL fragment as Rison (a compact JSON notation): `_g` holds the
time range, `_a` (Kibana) or `_q` (OpenSearch Dashboards) the query, in KQL / DQL. Structured
queries carry over as KQL; raw DSL does not (Discover has no DSL box), so its link opens the same
data view and time range with an empty query bar.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

UiKind = Literal["kibana", "opensearch_dashboards"]
# Characters Rison uses as syntax; they read fine unescaped in a URL fragment.
_SAFE = "()!:,'*-_.~/@"


def rison(value: Any) -> str:
    """Encode a JSON-like value as Rison; strings are always quoted, which Rison permits."""
    if value is None:
        return "!n"
    if value is True:
        return "!t"
    if value is False:
        return "!f"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list):
        return "!(" + ",".join(rison(item) for item in value) + ")"
    if isinstance(value, dict):
        return "(" + ",".join(f"{key}:{rison(item)}" for key, item in value.items()) + ")"
    raise TypeError(f"cannot encode {type(value).__name__} as Rison")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def discover_link(
    ui_url: str,
    kind: UiKind,
    start: datetime,
    end: datetime,
    kql: str | None,
    data_view: str | None,
) -> str:
    """The Discover URL showing this query over [start, end)."""
    base = ui_url.rstrip("/")
    time = {"time": {"from": _iso(start), "to": _iso(end)}}
    query = {"language": "kuery", "query": kql or ""}
    if kind == "opensearch_dashboards":
        metadata: dict[str, Any] = {"view": "discover"}
        if data_view:
            metadata["indexPattern"] = data_view
        fragment = (f"_a={quote(rison({'metadata': metadata}), safe=_SAFE)}"
                    f"&_g={quote(rison(time), safe=_SAFE)}"
                    f"&_q={quote(rison({'query': query}), safe=_SAFE)}")
        return f"{base}/app/data-explorer/discover#?{fragment}"
    state: dict[str, Any] = {"query": query}
    if data_view:
        state = {"index": data_view, **state}
    fragment = f"_g={quote(rison(time), safe=_SAFE)}&_a={quote(rison(state), safe=_SAFE)}"
    return f"{base}/app/discover#/?{fragment}"
