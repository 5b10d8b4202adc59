"""Could these keys write? Datadog scopes application keys; read the configured key's scopes."""

from __future__ import annotations

import re

from pydantic import SecretStr

from connectors.datadog.client import DatadogClient
from connectors.datadog.errors import DatadogError

# What this connector needs, and all it should be given.
RECOMMENDED_SCOPES = ("logs_read_data", "logs_read_index_data", "timeseries_query", "monitors_read",
                      "events_read")
# Scopes that only read but do not say `read` in their name.
_READ_EXTRAS = frozenset({"timeseries_query", "logs_live_tail"})
_READ = re.compile(r"(?:^|_)read(?:_|$)")
_WRITE_WORDS = re.compile(
    r"(?:^|_)(?:write|manage|delete|create|edit|update|share|invite|run|execute|mute|downtime|"
    r"resolve|generate|modify|configure|settings)(?:_|$)")
_MAX_PAGES = 10

UNSCOPED = ("the application key is unscoped: it carries every permission of its owner, which "
            "usually include writes (monitors, dashboards, downtimes). Scope it to: "
            + ", ".join(RECOMMENDED_SCOPES))
EXPLAIN = ("Datadog limits what an application key can do by its scopes (or, unscoped, by its "
           "owner's roles); recommended read-only scopes: " + ", ".join(RECOMMENDED_SCOPES))


def is_read_scope(scope: str) -> bool:
    """An allowlist: a scope reads only if it is known to, and has no word that changes things."""
    return (scope in _READ_EXTRAS or bool(_READ.search(scope))) and not _WRITE_WORDS.search(scope)


def assess(client: DatadogClient, app_key: SecretStr) -> tuple[bool | None, list[str]]:
    """`(can_write, details)` from the scopes of the configured application key, if visible."""
    last4 = app_key.get_secret_value()[-4:]
    matches: list[tuple[str, list[str] | None]] = []
    try:
        for page in range(_MAX_PAGES):
            listing = client.my_application_keys(page)
            keys = listing.get("data") or []
            for key in keys:
                attributes = key.get("attributes") or {}
                if attributes.get("last4") == last4:
                    scopes = attributes.get("scopes")
                    matches.append((str(attributes.get("name") or key.get("id") or "?"),
                                    None if scopes is None else [str(s) for s in scopes]))
            if len(keys) < 100:
                break
    except DatadogError as exc:
        return None, [f"cannot read the application key's scopes ({exc}); a key limited to read "
                      "scopes usually cannot list keys, which is expected", EXPLAIN]
    if len(matches) != 1:
        found = "no" if not matches else "several"
        return None, [f"{found} application key(s) of the current user match the configured one; "
                      "cannot tell its scopes", EXPLAIN]
    name, scopes = matches[0]
    if scopes is None:
        return None, [f"application key {name!r}: {UNSCOPED}"]
    writes = sorted(s for s in scopes if not is_read_scope(s))
    if writes:
        return True, [f"application key {name!r} has scopes that can change things: "
                      + ", ".join(writes), EXPLAIN]
    return False, [f"application key {name!r} is scoped to read-only scopes: "
                   + (", ".join(sorted(scopes)) or "none")]
