"""The servers of one `--backends real` eval run, started on first use and reused by every
bundle of the run; `close()` (or leaving the `with` block) stops whichever were started."""

from __future__ import annotations

import contextlib
import secrets
from types import TracebackType

from triage.backends.elastic import LogsServer
from triage.backends.github import FakeGitHub, Token
from triage.backends.postgres import PostgresServer


class Servers:
    """PostgreSQL, the Elasticsearch-API server and the GitHub API, each started once."""

    def __init__(self) -> None:
        self._postgres: PostgresServer | None = None
        self._logs: LogsServer | None = None
        self._github: FakeGitHub | None = None
        self.github_token = f"github_pat_eval_{secrets.token_hex(12)}"

    @property
    def postgres(self) -> PostgresServer:
        """The PostgreSQL cluster (started now if not yet)."""
        if self._postgres is None:
            self._postgres = PostgresServer()
        return self._postgres

    @property
    def logs(self) -> LogsServer:
        """The Elasticsearch-API server (started now if not yet)."""
        if self._logs is None:
            self._logs = LogsServer()
        return self._logs

    @property
    def github(self) -> FakeGitHub:
        """The loopback GitHub API, with one read-only token (started now if not yet)."""
        if self._github is None:
            self._github = FakeGitHub("bundles/none")
            self._github.tokens = {self.github_token: Token("fine", push=False)}
        return self._github

    def started(self) -> list[str]:
        """What is running, for the eval's header line."""
        found = []
        if self._postgres is not None:
            found.append(f"PostgreSQL {self._postgres.admin_dsn.rsplit('/', 1)[0]}")
        if self._logs is not None:
            found.append(f"osmem-server {self._logs.url}")
        if self._github is not None:
            found.append(f"GitHub API {self._github.api_url}")
        return found

    def close(self) -> None:
        """Stop every started server; one that fails to stop does not keep the others up."""
        for stop in (self._github.server.stop if self._github else None,
                     self._logs.stop if self._logs else None,
                     self._postgres.stop if self._postgres else None):
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop()
        self._postgres = self._logs = self._github = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
