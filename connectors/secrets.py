"""Credentials for connectors: never written in triage.yaml, only referenced there.

    password: {env: PG_PASSWORD}          # read from the environment
    api_key: {file: /run/secrets/dd_api}  # read from a file (Kubernetes / compose secrets)
"""

from __future__ import annotations

import os
from pathlib import Path

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
    """Remove every secret's value from a message (backend errors sometimes echo them)."""
    for secret in secrets:
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if value and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    return text
