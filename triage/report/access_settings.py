"""Report-link and API-access settings: signing keys and link lifetime, the JSON API's bearer
token, and the header a trusted reverse proxy sets to the signed-in user.

`triage.config.Settings` inherits these fields, so they come from the environment (or secret
files) like every other setting.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

MIN_KEY_CHARS = 32  # `openssl rand -hex 32` gives 64
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


class AccessSettings(BaseModel):
    """Who may open reports and the JSON API."""

    report_signing_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="comma-separated; the first signs, all verify")
    report_link_ttl: timedelta = Field(default=timedelta(days=30),
                                       description="how long a signed link opens its report")
    api_token: SecretStr | None = Field(default=None, description="Bearer token for /api/*")
    trusted_user_header: str | None = Field(
        default=None, description="header a trusted reverse proxy sets to the signed-in user")

    @field_validator("report_signing_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """Read a comma-separated environment value as a list."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("report_signing_keys")
    @classmethod
    def _long_enough(cls, keys: list[SecretStr]) -> list[SecretStr]:
        """Refuse short keys: a guessable key lets anyone mint links to every report."""
        for position, key in enumerate(keys, 1):
            if len(key.get_secret_value()) < MIN_KEY_CHARS:
                raise ValueError(f"key {position} has {len(key.get_secret_value())} characters; "
                                 f"use at least {MIN_KEY_CHARS} (e.g. `openssl rand -hex 32`)")
        return keys

    @field_validator("report_link_ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        """Accept `30d`, `12h`, `90m`, `3600` (seconds) besides ISO 8601 (`P30D`)."""
        if isinstance(value, str) and (match := _DURATION.match(value)):
            return timedelta(seconds=int(match[1]) * _UNIT[match[2]])
        return value

    @field_validator("report_link_ttl")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        """Refuse a zero or negative lifetime."""
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("trusted_user_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        """A header name (lower-cased, as Starlette looks headers up)."""
        if value is not None and not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not an HTTP header name")
        return value.lower() if value else None

    @property
    def api_auth_configured(self) -> bool:
        """Whether the JSON API asks callers who they are."""
        return self.api_token is not None or bool(self.trusted_user_header)
