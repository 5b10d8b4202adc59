"""Elasticsearch's (or OpenSearch's) HTTP face in front of a real osmem engine.

Searches, counts and field caps are answered by osmem; the front adds what a healthy emulator will
not do on demand, in the shapes Elasticsearch documents:

- the product's media-type rules: Elasticsearch 8 accepts `compatible-with=7|8`, Elasticsearch 9
  accepts `8|9` (400 `media_type_header_exception` otherwise); OpenSearch accepts plain JSON only
  (osmem itself answers 406 to vendor media types) and sends no `X-Elastic-Product` header;
- authentication (401 `security_exception`) when `credentials` is set;
- `POST /_security/user/_has_privileges` (Elasticsearch only) from a granted-privileges table, or
  the 500 a cluster with security disabled answers;
- scripted one-shot answers (429 with `Retry-After`, 403, slow replies) through `LoopbackServer.queue`.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.loopback import LoopbackServer, Reply, Seen

PRIVILEGES_PATH = "/_security/user/_has_privileges"
_VENDOR = re.compile(r"application/vnd\.elasticsearch\+[\w-]+;\s*compatible-with=(\d+)")
ACCEPTED_VERSIONS = {"elasticsearch8": ("7", "8"), "elasticsearch9": ("8", "9")}


def es_error(status: int, kind: str, reason: str, **extra: Any) -> dict[str, Any]:
    """An error body as Elasticsearch writes it."""
    cause = {"type": kind, "reason": reason, **extra}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def unauthorized(reason: str = "unable to authenticate with provided credentials and anonymous access "
                 "is not allowed for this request") -> Reply:
    """401 as Elasticsearch sends it for bad or missing credentials."""
    return Reply(401, es_error(401, "security_exception", reason),
                 {"WWW-Authenticate": 'Basic realm="security", charset="UTF-8", ApiKey'})


def forbidden(action: str = "indices:data/read/search", user: str = "triage") -> Reply:
    """403 as Elasticsearch sends it for a missing privilege."""
    return Reply(403, es_error(403, "security_exception",
                               f"action [{action}] is unauthorized for user [{user}] with effective roles "
                               "[triage_reader] on indices [logs-checkout-2024.05.01], this action is "
                               "granted by the index privileges [read,all]"))


def rejected(retry_after: str | None = "0") -> Reply:
    """429 as Elasticsearch sends it when its search queue is full."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(429, es_error(429, "es_rejected_execution_exception",
                               "rejected execution of TimedRunnable on EsThreadPoolExecutor["
                               "name = node/search, queue capacity = 1000]"), headers)


@dataclass
class Grants:
    """Privileges the front says the caller holds (on every index asked about)."""

    user: str = "triage"
    cluster: set[str] = field(default_factory=lambda: {"monitor"})
    index: set[str] = field(default_factory=lambda: {"read", "view_index_metadata"})


class ElasticFront:
    """A loopback server in front of an osmem engine, playing one product at a time."""

    def __init__(self, engine_url: str, tls: ssl.SSLContext | None = None) -> None:
        self.engine_url = engine_url
        self.server = LoopbackServer(self._route, tls)
        self._engine = httpx.Client(base_url=engine_url, timeout=10)
        self.reset()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def seen(self) -> list[Seen]:
        return self.server.seen

    def start(self) -> ElasticFront:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()
        self._engine.close()

    def reset(self) -> None:
        """Back to an Elasticsearch 9 cluster with security on and a read-only caller."""
        self.server.reset()
        self.product = "elasticsearch9"
        self.credentials: str | None = None  # the exact Authorization header to require
        self.grants: Grants | None = Grants()
        self.security_disabled = False
        self.echo_authorization = False  # a hostile backend that quotes the credentials back
        self.identify = True  # send X-Elastic-Product (Elasticsearch products only)

    def _route(self, seen: Seen) -> Reply:
        authorization = seen.headers.get("authorization", "")
        if self.credentials is not None and authorization != self.credentials:
            reason = "unable to authenticate user"
            if self.echo_authorization:
                reason += f" for header [{authorization}]"
            return unauthorized(reason)
        refused = self._media_type_refusal(seen)
        if refused is not None:
            return refused
        if seen.path == PRIVILEGES_PATH and self.product != "opensearch":
            return self._privileges(seen)
        return self._forward(seen)

    def _media_type_refusal(self, seen: Seen) -> Reply | None:
        if self.product == "opensearch":
            return None  # osmem applies OpenSearch's own rule (406 for vendor media types)
        for header in ("accept", "content-type"):
            match = _VENDOR.search(seen.headers.get(header, ""))
            if match and match.group(1) not in ACCEPTED_VERSIONS[self.product]:
                allowed = " or ".join(reversed(ACCEPTED_VERSIONS[self.product]))
                return Reply(400, es_error(
                    400, "media_type_header_exception",
                    "Invalid media-type value on headers [Accept, Content-Type]",
                    caused_by={"type": "status_exception", "reason": (
                        f"{header.title()} version must be either version {allowed}, but found "
                        f"{match.group(1)}. {header.title()}={seen.headers[header]}")}))
        return None

    def _privileges(self, seen: Seen) -> Reply:
        if self.security_disabled or self.grants is None:
            return Reply(500, es_error(500, "exception", (
                "Security must be explicitly enabled when using a [basic] license. Enable security by "
                "setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the "
                "node.")))
        asked = seen.json() or {}
        cluster = {name: name in self.grants.cluster for name in asked.get("cluster", [])}
        index: dict[str, dict[str, bool]] = {}
        for entry in asked.get("index", []):
            for name in entry.get("names", []):
                index[name] = {p: p in self.grants.index for p in entry.get("privileges", [])}
        every = [*cluster.values(), *(v for per in index.values() for v in per.values())]
        return Reply(200, {"username": self.grants.user, "has_all_requested": all(every),
                           "cluster": cluster, "index": index, "application": {}},
                     {"X-Elastic-Product": "Elasticsearch"})

    def _forward(self, seen: Seen) -> Reply:
        content_type = seen.headers.get("content-type", "application/json")
        accept = seen.headers.get("accept", "application/json")
        if self.product != "opensearch":  # Elasticsearch has accepted the vendor type: plain for osmem
            content_type = _VENDOR.sub("application/json", content_type)
            accept = _VENDOR.sub("application/json", accept)
        answer = self._engine.request(seen.method, seen.path, params=seen.query, content=seen.body or None,
                                      headers={"Content-Type": content_type, "Accept": accept})
        out = {"Content-Type": answer.headers.get("content-type", "application/json")}
        if self.product != "opensearch" and self.identify:
            out["X-Elastic-Product"] = "Elasticsearch"
        return Reply(answer.status_code, answer.content, out)
