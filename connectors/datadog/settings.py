"""`type: datadog` settings, and where a Datadog site's API and UI live."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.secrets import SecretRef

DEFAULT_SITE = "datadoghq.com"
# Sites whose UI is `app.<site>`; every other site (us3, us5, ap1, ap2, uk1, us2.ddog-gov) serves
# its UI on the site name itself. The API is always `api.<site>`.
_APP_PREFIXED_SITES = frozenset({"datadoghq.com", "datadoghq.eu", "ddog-gov.com"})
_HOSTNAME = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class DatadogSettings(BaseModel):
    """`type: datadog` — read APIs (logs, metrics, monitors, events) of one Datadog organisation."""

    # hide_input_in_errors: a key pasted inline by mistake must not be echoed in the config error.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["datadog"] = "datadog"
    api_key: SecretRef
    app_key: SecretRef
    site: str | None = Field(default=None, description="DD_SITE style; default: $DD_SITE or datadoghq.com")
    kind: Literal["logs", "metrics", "deploys"] = Field(
        default="logs", description="what playbooks use this connector for; unprefixed queries go there")
    base_url: str | None = Field(default=None, description="API base URL override (proxies, tests)")
    app_url: str | None = Field(default=None, description="UI base URL override for deep links")
    logs_indexes: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    page_size: int = Field(default=1000, ge=1, le=1000)
    max_pages: int = Field(default=10, ge=1, le=100)
    # Datadog rate-limits log searches: a capped logs query spends up to this many extra searches
    # on its per-minute sample (0: keep only the newest lines; counts stay exact either way).
    max_sample_requests: int = Field(default=60, ge=0, le=1000)
    retry_attempts: int = Field(default=4, ge=1, le=10)

    @field_validator("site")
    @classmethod
    def _site(cls, value: str | None) -> str | None:
        return None if value is None else normalize_site(value)

    @field_validator("base_url", "app_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    def resolved_site(self) -> str:
        """The configured site, else `$DD_SITE`, else datadoghq.com."""
        if self.site:
            return self.site
        from_env = os.environ.get("DD_SITE", "").strip()
        return normalize_site(from_env) if from_env else DEFAULT_SITE

    def api_base(self) -> str:
        """Where API calls go: the override, else `https://api.<site>`."""
        return self.base_url or f"https://api.{self.resolved_site()}"

    def ui_base(self) -> str:
        """Where deep links point: the override, else the site's web UI."""
        if self.app_url:
            return self.app_url
        site = self.resolved_site()
        return f"https://app.{site}" if site in _APP_PREFIXED_SITES else f"https://{site}"


def normalize_site(value: str) -> str:
    """`https://app.datadoghq.eu/` or `api.datadoghq.eu` → `datadoghq.eu`; refuse anything else."""
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    text = text.rstrip("/")
    for prefix in ("app.", "api."):
        if text.startswith(prefix):
            text = text[len(prefix):]
    if not _HOSTNAME.match(text):
        raise ValueError(f"not a Datadog site: {value!r} (expected e.g. datadoghq.com, datadoghq.eu, "
                         "us5.datadoghq.com)")
    return text


def check_base_url(value: str) -> str:
    """An absolute http(s) URL without a path; plain http only to this machine (keys travel in headers)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"give only scheme, host and port, not a path or credentials: {value!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"plain http is only allowed to localhost; use https: {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
