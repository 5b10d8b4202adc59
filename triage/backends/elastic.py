"""Bundle logs behind the Elasticsearch API: osmem-server (the in-memory OpenSearch emulator of
the `osmem-server` package, in the dev extra) with an index per bundle, loaded through the
official client and the connector's own compatibility handling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, helpers

from connectors import build_connector
from connectors.elasticsearch.connector import ElasticsearchConnector
from triage.backends import BackendError

COMPATIBILITY = "opensearch"  # what osmem-server answers as
MAX_HITS = 10_000  # the connector's ceiling: a playbook's 10 000-line read comes back whole
MAPPING: dict[str, Any] = {
    # every other string is a keyword (filters and drill-down compare whole values)
    "dynamic_templates": [{"strings": {"match_mapping_type": "string",
                                       "mapping": {"type": "keyword", "ignore_above": 1024}}}],
    "properties": {
        "timestamp": {"type": "date"},
        "level": {"type": "keyword"},
        "service": {"type": "keyword"},
        "message": {"type": "text", "fields": {"keyword": {"type": "keyword",
                                                           "ignore_above": 1024}}},
    },
}


def connector_settings(url: str, index: str) -> dict[str, Any]:
    """The `type: elasticsearch` settings that read one bundle's index."""
    return {"type": "elasticsearch", "hosts": [url], "indices": [index],
            "compatibility": COMPATIBILITY, "timestamp_field": "timestamp",
            "level_field": "level", "service_field": "service", "message_field": "message",
            "max_hits": MAX_HITS}


def index_name(bundle: str) -> str:
    """A valid, lower-case index name for a bundle."""
    return "triage-eval-" + re.sub(r"[^a-z0-9_-]+", "-", bundle.lower()).strip("-")


class LogsServer:
    """One osmem-server for the whole eval run; an index per bundle."""

    def __init__(self) -> None:
        try:
            from osmem_server import OsmemServer  # type: ignore[import-untyped]
        except ImportError as exc:
            raise BackendError("--backends real serves logs from osmem-server, which is not "
                               "installed: pip install osmem-server (or the `dev` extra: "
                               "pip install -e '.[dev]')") from exc
        try:
            self._server = OsmemServer.start(japanese=False)
        except Exception as exc:  # OsmemError and OSError: the binary would not start
            raise BackendError(f"osmem-server would not start: {exc}") from exc
        self.url: str = self._server.url

    def _connector(self, index: str) -> ElasticsearchConnector:
        connector = build_connector("loader", connector_settings(self.url, index), Path.cwd())
        assert isinstance(connector, ElasticsearchConnector)
        return connector

    def load(self, index: str, logs: Path) -> int:
        """Create `index` with the mapping and bulk-load `logs.jsonl`; the number of lines."""
        connector = self._connector(index)
        client = connector.client()
        try:
            client.indices.delete(index=index, ignore_unavailable=True)
            client.indices.create(index=index, mappings=MAPPING)
            count, errors = helpers.bulk(client, _actions(index, logs), refresh=True,
                                         raise_on_error=False)
        except (ApiError, TransportError) as exc:
            raise BackendError(f"cannot load {logs} into {index}: {exc}") from exc
        finally:
            connector.close()
        if isinstance(errors, list) and errors:
            raise BackendError(f"{logs}: {len(errors)} line(s) refused by the index, first: "
                               f"{errors[0]}")
        return count

    def drop(self, index: str) -> None:
        """Delete one bundle's index."""
        connector = self._connector(index)
        try:
            connector.client().indices.delete(index=index, ignore_unavailable=True)
        except (ApiError, TransportError):
            pass  # the server is going away with the run anyway
        finally:
            connector.close()

    def stop(self) -> None:
        """Stop the server."""
        self._server.close()


def _actions(index: str, logs: Path) -> Iterator[dict[str, Any]]:
    with logs.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as exc:
                raise BackendError(f"{logs}:{number}: not JSON: {exc}") from exc
            yield {"_index": index, "_source": doc}
