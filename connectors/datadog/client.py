"""A read-only face on `datadog-api-client`: only the read calls this connector makes, each with a
timeout, retries on transient errors, and errors turned into `DatadogError` without secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import urllib3
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.model_utils import model_to_dict
from datadog_api_client.v1.api.authentication_api import AuthenticationApi
from datadog_api_client.v1.api.metrics_api import MetricsApi
from datadog_api_client.v1.api.monitors_api import MonitorsApi
from datadog_api_client.v2.api.events_api import EventsApi
from datadog_api_client.v2.api.key_management_api import KeyManagementApi
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.events_sort import EventsSort
from datadog_api_client.v2.model.logs_aggregate_request import LogsAggregateRequest
from datadog_api_client.v2.model.logs_aggregate_request_page import LogsAggregateRequestPage
from datadog_api_client.v2.model.logs_aggregation_function import LogsAggregationFunction
from datadog_api_client.v2.model.logs_compute import LogsCompute
from datadog_api_client.v2.model.logs_compute_type import LogsComputeType
from datadog_api_client.v2.model.logs_group_by import LogsGroupBy
from datadog_api_client.v2.model.logs_list_request import LogsListRequest
from datadog_api_client.v2.model.logs_list_request_page import LogsListRequestPage
from datadog_api_client.v2.model.logs_query_filter import LogsQueryFilter
from datadog_api_client.v2.model.logs_sort import LogsSort
from pydantic import SecretStr

from connectors.datadog.errors import describe, is_transient, retry_after
from connectors.datadog.settings import DatadogSettings
from connectors.retry import call_with_retries
from connectors.secrets import scrub

# (The client's constructors and `model_to_dict` are unannotated: hence the `no-untyped-call` ignores.)
Json = dict[str, Any]
# The client logs whole response bodies at DEBUG here; a body may echo what we sent.
_BODY_LOGGER = "datadog_api_client.rest"


class _ScrubSecrets(logging.Filter):
    """Removes the keys' values from records the Datadog client logs."""

    def __init__(self, secrets: tuple[SecretStr, ...]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record once, scrubbed, so no argument can reintroduce a secret."""
        record.msg = scrub(record.getMessage(), *self._secrets)
        record.args = None
        return True


def _configuration(settings: DatadogSettings, api_key: SecretStr, app_key: SecretStr) -> Configuration:
    # Configuration() resets the `urllib3` and `datadog_api_client` logger levels to WARNING as a
    # side effect; put back whatever the application configured.
    loggers = [logging.getLogger(name) for name in ("urllib3", "datadog_api_client")]
    levels = [each.level for each in loggers]
    config = Configuration(  # type: ignore[no-untyped-call]
        host=settings.api_base(),
        api_key={"apiKeyAuth": api_key.get_secret_value(), "appKeyAuth": app_key.get_secret_value()},
        request_timeout=settings.timeout_seconds,
        # No retries or redirects inside urllib3: retries are ours (tenacity, transient errors only),
        # and following a redirect would send the keys to another host.
        retry_policy=urllib3.Retry(total=False, redirect=False),
    )
    for each, level in zip(loggers, levels, strict=True):
        each.setLevel(level)
    return config


class DatadogClient:
    """The read calls of the Datadog API this connector uses, and nothing else."""

    def __init__(self, settings: DatadogSettings, api_key: SecretStr, app_key: SecretStr) -> None:
        self._settings = settings
        self._secrets = (api_key, app_key)
        self._api = ApiClient(_configuration(settings, api_key, app_key))
        self._filter = _ScrubSecrets(self._secrets)
        logging.getLogger(_BODY_LOGGER).addFilter(self._filter)
        self._logs = LogsApi(self._api)  # type: ignore[no-untyped-call]
        self._metrics = MetricsApi(self._api)  # type: ignore[no-untyped-call]
        self._monitors = MonitorsApi(self._api)  # type: ignore[no-untyped-call]
        self._events = EventsApi(self._api)  # type: ignore[no-untyped-call]
        self._auth = AuthenticationApi(self._api)  # type: ignore[no-untyped-call]
        self._keys = KeyManagementApi(self._api)  # type: ignore[no-untyped-call]

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one read with retries; failures become a `DatadogError` (programming errors raise)."""
        try:
            return call_with_retries(call, is_transient=is_transient, retry_after=retry_after,
                                     attempts=self._settings.retry_attempts)
        except Exception as exc:
            # `from None`: the client's exception text includes response headers and bodies, and a
            # chained traceback in some log would print them past the scrubbing.
            raise describe(exc, what, timeout=self._settings.timeout_seconds,
                           secrets=self._secrets) from None

    def _read(self, what: str, call: Callable[[], Any]) -> Json:
        """One read whose response is a single object, as plain JSON-shaped data."""
        converted: Json = model_to_dict(self._call(what, call), serialize=True)  # type: ignore[no-untyped-call]
        return converted

    def search_logs(self, query: str, start: str, end: str, limit: int, cursor: str | None) -> Json:
        """One page of `POST /api/v2/logs/events/search`, newest first."""
        page = LogsListRequestPage(limit=limit, cursor=cursor) if cursor else LogsListRequestPage(limit=limit)
        body = LogsListRequest(
            filter=LogsQueryFilter(query=query, _from=start, to=end,
                                   indexes=list(self._settings.logs_indexes)),
            page=page,
            sort=LogsSort.TIMESTAMP_DESCENDING,
        )
        return self._read("logs search", lambda: self._logs.list_logs(body=body))

    def aggregate_logs(self, query: str, start: str, end: str, facet: str, interval: str,
                       cursor: str | None) -> Json:
        """One page of `POST /api/v2/logs/analytics/aggregate`: counts per `interval`, by `facet`."""
        body = LogsAggregateRequest(
            compute=[LogsCompute(aggregation=LogsAggregationFunction.COUNT,
                                 type=LogsComputeType.TIMESERIES, interval=interval)],
            filter=LogsQueryFilter(query=query, _from=start, to=end,
                                   indexes=list(self._settings.logs_indexes)),
            group_by=[LogsGroupBy(facet=facet, limit=100)],
        )
        if cursor:
            body.page = LogsAggregateRequestPage(cursor=cursor)
        return self._read("logs aggregation", lambda: self._logs.aggregate_logs(body=body))

    def query_metrics(self, query: str, start: int, end: int) -> Json:
        """`GET /api/v1/query`: timeseries points between two epoch seconds."""
        return self._read("metrics query", lambda: self._metrics.query_metrics(_from=start, to=end,
                                                                               query=query))

    def get_monitor(self, monitor_id: int) -> Json:
        """`GET /api/v1/monitor/{id}` with the state of every group."""
        return self._read("monitor lookup",
                          lambda: self._monitors.get_monitor(monitor_id, group_states="all"))

    def list_monitors(self, page_size: int) -> list[Json]:
        """`GET /api/v1/monitor`: the first monitors (a read-access probe)."""
        monitors = self._call("monitor list",
                              lambda: self._monitors.list_monitors(page=0, page_size=page_size))
        return [model_to_dict(each, serialize=True) for each in monitors]  # type: ignore[no-untyped-call]

    def search_events(self, query: str, start_ms: int, end_ms: int, limit: int,
                      cursor: str | None) -> Json:
        """One page of `GET /api/v2/events`, newest first."""
        params: dict[str, Any] = {"filter_query": query, "filter_from": str(start_ms),
                                  "filter_to": str(end_ms), "sort": EventsSort.TIMESTAMP_DESCENDING,
                                  "page_limit": limit}
        if cursor:
            params["page_cursor"] = cursor
        return self._read("events search", lambda: self._events.list_events(**params))

    def validate(self) -> Json:
        """`GET /api/v1/validate`: is the API key valid?"""
        return self._read("API key validation", self._auth.validate)

    def my_application_keys(self, page: int) -> Json:
        """`GET /api/v2/current_user/application_keys`: names, last four characters and scopes."""
        return self._read("application key listing",
                          lambda: self._keys.list_current_user_application_keys(page_size=100,
                                                                                page_number=page))

    def close(self) -> None:
        """Release the connection pool and the log filter."""
        logging.getLogger(_BODY_LOGGER).removeFilter(self._filter)
        self._api.close()
