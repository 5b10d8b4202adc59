"""The `repro:`, `test:` and `pull_requests:` settings of a service (and `repro:` of a playbook).

    repro:
      command: [python3, repro.py, --request, "{request}"]   # argv, no shell; {name} placeholders
      setup: [python3, -m, compileall, -q, .]                 # optional; a failure: inconclusive
      expect: "TypeError: unsupported operand"                # optional text a failure must show
      timeout: 60
      env: {APP_ENV: test}                                    # the only variables passed, besides
      inputs:                                                 # PATH, HOME, LANG and TMPDIR
        request: {kind: logs, match: "TypeError", field: request}
    test: {command: [python3, -m, unittest, -q], timeout: 300}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors import EvidenceKind
from connectors.secrets import SecretRef

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}|[{}]")
BUILTIN_VARIABLES = ("commit", "service", "alert_title", "alert_started_at", "investigation_id")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_BRANCH_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*/$")


class Strict(BaseModel):
    """A YAML section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def placeholders(text: str) -> list[str]:
    """The `{name}` placeholders of one argument; ValueError on a stray brace."""
    names = []
    for match in PLACEHOLDER.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValueError(f"stray {token!r} in {text!r}: write {token * 2} for a literal brace")
        names.append(match.group(1))
    return names


def _argv(value: list[str]) -> list[str]:
    """A command is a non-empty argv of non-empty strings without NUL bytes."""
    if not value:
        raise ValueError("a command needs at least the program to run")
    for arg in value:
        if "\0" in arg:
            raise ValueError("command arguments cannot contain NUL bytes")
    if not value[0]:
        raise ValueError("the program name is empty")
    return value


class ReproInput(Strict):
    """A value the repro takes from the gathered evidence: the newest (or oldest) matching row."""

    kind: EvidenceKind = EvidenceKind.LOGS
    match: str = Field(min_length=1, description="regex searched in each row's message")
    field: str | None = Field(default=None, description="the row field to take (JSON if not text)")
    pick: Literal["last", "first"] = "last"

    @field_validator("match")
    @classmethod
    def _regex(cls, pattern: str) -> str:
        """The pattern, if it compiles."""
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
        return pattern


class RepoTestCommand(Strict):
    """The repository's own tests, run on a candidate fix."""

    command: list[str]
    timeout: float = Field(default=600.0, gt=0, le=3 * 3600)
    setup: list[str] | None = Field(default=None, description="default: the repro's setup")

    _check = field_validator("command", "setup")(
        lambda value: None if value is None else _argv(value))


class ReproSpec(Strict):
    """How to reproduce the failure in a sandbox at a commit."""

    command: list[str]
    setup: list[str] | None = None
    expect: str | None = Field(default=None, min_length=1,
                               description="text a failing run must print to count as reproduced")
    timeout: float = Field(default=300.0, gt=0, le=3600)
    setup_timeout: float = Field(default=600.0, gt=0, le=3600)
    env: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, ReproInput] = Field(default_factory=dict)

    _check = field_validator("command", "setup")(
        lambda value: None if value is None else _argv(value))

    @field_validator("expect")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """One line: grep -F would read a newline as a second pattern."""
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError("expect is one line of text (it is matched as a plain substring)")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        """Names a shell could export, values without NUL bytes."""
        for name, value in env.items():
            if not _ENV_NAME.match(name):
                raise ValueError(f"not an environment variable name: {name!r}")
            if "\0" in value:
                raise ValueError(f"env {name}: values cannot contain NUL bytes")
        return env

    @model_validator(mode="after")
    def _known_placeholders(self) -> ReproSpec:
        """Every placeholder is a built-in or an input (no typo surfaces only at an incident)."""
        known = set(BUILTIN_VARIABLES) | set(self.inputs)
        for clash in sorted(set(self.inputs) & set(BUILTIN_VARIABLES)):
            raise ValueError(f"input {clash!r} shadows a built-in variable")
        for arg in [*self.command, *(self.setup or [])]:
            for name in placeholders(arg):
                if name not in known:
                    raise ValueError(f"unknown placeholder {{{name}}} in {arg!r}; known: "
                                     + ", ".join(sorted(known)))
        return self


class GitHubAppCredentials(Strict):
    """A GitHub App installation; its token is asked for Contents and Pull requests write."""

    app_id: int = Field(gt=0)
    installation_id: int = Field(gt=0)
    private_key: SecretRef


class PullRequestConfig(Strict):
    """Where verified fixes go as draft pull requests (without it: a local branch and a patch)."""

    repository: str = Field(description="owner/name")
    api_url: str = Field(default="https://api.github.com",
                         description="GitHub Enterprise Server: https://HOST/api/v3")
    push_url: str | None = Field(default=None, description="default: https://github.com/OWNER/NAME.git")
    token: SecretRef | None = Field(default=None, description="fine-grained: Contents + Pull requests RW")
    app: GitHubAppCredentials | None = None
    base: str | None = Field(default=None, description="target branch; default: the repository's")
    branch_prefix: str = "triage/"
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("repository")
    @classmethod
    def _owner_name(cls, value: str) -> str:
        """OWNER/NAME, as GitHub spells repositories."""
        if not _REPOSITORY.match(value):
            raise ValueError(f"repository must be OWNER/NAME, not {value!r}")
        return value

    @field_validator("branch_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        """A ref-name prefix ending in a slash."""
        if not _BRANCH_PREFIX.match(value) or ".." in value:
            raise ValueError(f"branch_prefix must look like 'triage/', not {value!r}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> PullRequestConfig:
        """A token or an App, not both and not neither."""
        if (self.token is None) == (self.app is None):
            raise ValueError("pull_requests needs exactly one of `token` or `app`")
        return self

    def resolved_push_url(self) -> str:
        """The git URL branches are pushed to (credentials are never part of it)."""
        if self.push_url:
            return self.push_url
        web = self.api_url.rstrip("/")
        web = ("https://github.com" if web == "https://api.github.com"
               else web.removesuffix("/api/v3"))
        return f"{web}/{self.repository}.git"
