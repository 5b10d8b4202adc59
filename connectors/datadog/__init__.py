"""Datadog (`type: datadog`): read-only logs, metrics, monitors and events via `datadog-api-client`.

One query string, its kind as a prefix (unprefixed queries go to the connector's `kind`)::

    logs: service:checkout status:error            # POST /api/v2/logs/events/search, cursor pages
    metrics: sum:trace.http.request.errors{service:checkout}.as_count()   # GET /api/v1/query
    monitor: 12345                                 # GET /api/v1/monitor/{id}: query and states
    events: tags:deploy service:checkout           # GET /api/v2/events, cursor pages

Modules: `settings` (site, keys, caps), `client` (the only Datadog calls made: reads, with timeouts,
retries, and scrubbed errors), `reads` + `rows` (responses to rows and summaries), `links` (UI deep
links), `scopes` (could the application key write?), `connector` (the Connector).
"""

from connectors.datadog.connector import DatadogConnector
from connectors.datadog.settings import DatadogSettings

__all__ = ["DatadogConnector", "DatadogSettings"]
