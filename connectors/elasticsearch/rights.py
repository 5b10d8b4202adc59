"""Could these credentials write? Ask Elasticsearch's `_security/user/_has_privileges`.

Any user may ask about their own privileges. OpenSearch and emulators have no such API (the answer is
`None`, "cannot tell"); an Elasticsearch cluster with security disabled answers that security is off,
which means anyone who can reach it can write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from pydantic import SecretStr

from connectors.elasticsearch.client import describe_error, is_transient, retry_after
from connectors.retry import call_with_retries

PATH = "/_security/user/_has_privileges"
# Index privileges that allow changing documents or indices; `read` is asked for as the baseline.
WRITE_INDEX_PRIVILEGES = ("write", "index", "create", "create_doc", "delete", "delete_index",
                          "create_index", "manage", "all")
WRITE_CLUSTER_PRIVILEGES = ("all", "manage")
_SECURITY_OFF = ("security must be explicitly enabled", "security is not enabled", "security is disabled")


def privileges_body(indices: Sequence[str]) -> dict[str, Any]:
    """The `_has_privileges` request for the allowed indices."""
    return {"cluster": list(WRITE_CLUSTER_PRIVILEGES),
            "index": [{"names": list(indices), "privileges": ["read", *WRITE_INDEX_PRIVILEGES]}]}


def probe_privileges(
    client: Elasticsearch,
    indices: Sequence[str],
    secrets: Sequence[SecretStr | str | None],
    attempts: int = 4,
) -> tuple[bool | None, str]:
    """`(can_write, what we found)` for the configured credentials on the allowed indices."""
    body = privileges_body(indices)
    try:
        answer = call_with_retries(
            lambda: dict(client.perform_request(
                "POST", PATH, body=body,
                headers={"accept": "application/json", "content-type": "application/json"}).body),
            is_transient=is_transient, retry_after=retry_after, attempts=attempts)
    except ApiError as exc:
        message = describe_error(exc, f"POST {PATH}", *secrets)
        if any(phrase in str(exc.body).lower() for phrase in _SECURITY_OFF):
            return True, ("security is DISABLED on this cluster: anyone who can reach it can write "
                          f"({message})")
        return None, f"cannot tell whether these credentials can write: no usable {PATH} ({message})"
    except TransportError as exc:
        return None, f"cannot tell whether these credentials can write: {describe_error(exc, PATH, *secrets)}"
    return _verdict(answer)


def _verdict(answer: dict[str, Any]) -> tuple[bool | None, str]:
    user = answer.get("username", "?")
    cluster = answer.get("cluster") or {}
    by_index = answer.get("index") or {}
    if not isinstance(cluster, dict) or not isinstance(by_index, dict):
        return None, f"cannot tell whether these credentials can write: unexpected answer from {PATH}"
    granted = [f"cluster:{name}" for name, has in cluster.items() if has is True]
    unreadable: list[str] = []
    for index, privileges in sorted(by_index.items()):
        if not isinstance(privileges, dict):
            continue
        granted += [f"{index}:{name}" for name in WRITE_INDEX_PRIVILEGES if privileges.get(name) is True]
        if privileges.get("read") is not True:
            unreadable.append(index)
    notes = f"; user {user!r} lacks read on {', '.join(unreadable)}" if unreadable else ""
    if granted:
        return True, f"user {user!r} CAN WRITE: {', '.join(granted)}{notes}"
    return False, f"user {user!r} has no write, index, delete or manage privilege here{notes}"
