"""Credentials for connectors: never written in triage.yaml, only referenced there.

    password: {env: PG_PASSWORD}          # read from the environment
    api_key: {file: /run/secrets/dd_api}  # read from a file (Kubernetes / compose secrets)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

from connectors.base import ConnectorConfigError


class SecretRef(BaseModel):
    """Where a secret lives: exactly one of an environment variable or a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret reference needs exactly one of `env` or `file`")
        return self

    def describe(self) -> str:
        """Where the secret is read from (never the secret itself)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def resolve(self) -> SecretStr:
        """The secret's value; a clear error naming where it was looked for."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConnectorConfigError(f"secret not set: {self.describe()} is empty or unset")
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConnectorConfigError(f"cannot read secret {self.describe()}: {exc.strerror}") from exc


def scrub(text: str, *secrets: SecretStr | str | None) -> str:
    """Remove every secret's value from a message (backend errors sometimes echo them), also
    where it appears URL-encoded (a deep link or a DSN quotes it)."""
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= 4:
            for form in sorted({value, quote(value, safe=""), quote_plus(value)}, key=len, reverse=True):
                text = text.replace(form, "[redacted]")
    return text


def _leaves(value: Any) -> list[SecretRef | SecretStr]:
    """Every secret reference and secret value inside a connector's settings."""
    if isinstance(value, SecretRef | SecretStr):
        return [value]
    if isinstance(value, BaseModel):
        value = [getattr(value, name) for name in type(value).model_fields]
    elif isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _leaves(item)]
    return []


def settings_secrets(settings: Any) -> list[str]:
    """The values of every secret a connector's settings hold or reference (`SecretRef`s are
    resolved; one that cannot be read is skipped: it cannot have been sent anywhere)."""
    found: list[str] = []
    for leaf in _leaves(settings):
        try:
            secret = leaf.resolve() if isinstance(leaf, SecretRef) else leaf
        except ConnectorConfigError:
            continue
        found.append(secret.get_secret_value())
    return [value for value in found if len(value) >= 4]


def unresolved_secrets(settings: Any) -> list[str]:
    """Why each secret a connector's settings reference cannot be read now (empty: all can)."""
    problems: list[str] = []
    for leaf in _leaves(settings):
        if isinstance(leaf, SecretRef):
            try:
                leaf.resolve()
            except ConnectorConfigError as exc:
                problems.append(str(exc))
    return problems


def scrub_value(value: Any, secrets: list[str]) -> Any:
    """A copy of a JSON-like value (rows) with every secret's value removed from its strings."""
    if not secrets:
        return value
    if isinstance(value, str):
        return scrub(value, *secrets)
    if isinstance(value, dict):
        return {key: scrub_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_value(item, secrets) for item in value]
    return value
