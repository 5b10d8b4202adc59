"""One bundle loaded into the real backends, its `config` rewritten to the production connector
types: `files_logs` -> `elasticsearch`, `files_metrics` -> `prometheus`, `sqlite` (from
`db.sql`) -> `postgres`, and `files_deploys` -> `github` when the deploys belong to a service
with a repository (else they stay files). Staged database sessions are held while in use."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.timeparse import parse_timestamp
from triage.backends import BackendError
from triage.backends import github_shapes as shapes
from triage.backends.db_activity import DbActivity, load_activity, staged
from triage.backends.elastic import connector_settings, index_name
from triage.backends.postgres import READONLY_ROLE
from triage.backends.prometheus import PrometheusServer
from triage.backends.servers import Servers

STEP_SECONDS = 60.0  # bundles hold a sample a minute; a finer step only repeats them


@dataclass
class Loaded:
    """A bundle in the real backends: the rewritten config and where each connector points."""

    config: dict[str, Any]
    backends: dict[str, str] = field(default_factory=dict)  # connector -> "type at URL"
    staged_sessions: int = 0


@contextmanager
def loaded(bundle: Path, workdir: Path, config: dict[str, Any], servers: Servers,
           name: str) -> Iterator[Loaded]:
    """Load the staged bundle in `workdir` into the servers; yield the rewritten config with its
    database sessions held; drop the bundle's index, database and Prometheus afterwards."""
    activity = load_activity(bundle)
    with contextlib.ExitStack() as stack:
        result = Loaded(copy.deepcopy(config))
        connectors: dict[str, Any] = result.config.get("connectors") or {}
        databases: dict[str, str] = {}
        prometheus: dict[Path, PrometheusServer] = {}
        for cname, raw in connectors.items():
            kind = raw.get("type") if isinstance(raw, dict) else None
            if kind == "files_logs":
                index = index_name(f"{name}-{cname}")
                servers.logs.load(index, workdir / raw["path"])
                stack.callback(servers.logs.drop, index)
                connectors[cname] = connector_settings(servers.logs.url, index)
            elif kind == "files_metrics":
                path = (workdir / raw["path"]).resolve()
                if path not in prometheus:
                    prometheus[path] = PrometheusServer(path)
                    stack.callback(prometheus[path].stop)
                connectors[cname] = {"type": "prometheus", "url": prometheus[path].url,
                                     "default_step_seconds": STEP_SECONDS}
            elif kind == "sqlite":
                script = workdir / "db.sql"
                if not script.is_file():
                    raise BackendError(f"connector {cname} reads {raw.get('path')}; --backends "
                                       "real loads db.sql into PostgreSQL and the bundle has none")
                database = _identifier(f"eval_{name}_{cname}")
                pg = servers.postgres
                databases[cname] = pg.create_database(database, script.read_text("utf-8"))
                stack.callback(pg.drop_database, database)
                connectors[cname] = {"type": "postgres", "dsn": pg.dsn(database, READONLY_ROLE),
                                     "pool_timeout_seconds": 5.0}
            elif kind == "files_deploys":
                service = _repository_service(result.config, cname)
                if service is not None:
                    connectors[cname] = _github(servers, workdir, workdir / raw["path"],
                                                service, name)
            result.backends[cname] = _describe(connectors[cname])
        if activity is not None:
            dsn = _activity_database(activity, databases)
            result.staged_sessions = len(stack.enter_context(staged(dsn, activity)))
        yield result


def _describe(raw: dict[str, Any]) -> str:
    where = raw.get("url") or (raw.get("hosts") or [None])[0] or raw.get("base_url") \
        or raw.get("path") or ""
    if raw.get("type") == "postgres":
        where = str(raw["dsn"]).split("@", 1)[-1]
    return f"{raw.get('type')} {where}".strip()


def _identifier(text: str) -> str:
    """A lower-case SQL identifier of at most 63 characters."""
    return re.sub(r"[^a-z0-9_]+", "_", text.lower())[:63]


def _activity_database(activity: DbActivity, databases: dict[str, str]) -> str:
    """The DSN the staged sessions connect to."""
    if activity.database is not None:
        if activity.database not in databases:
            raise BackendError(f"db_activity.yaml names database {activity.database!r}, which is "
                               f"not a database connector loaded from db.sql")
        return databases[activity.database]
    if len(databases) != 1:
        raise BackendError("db_activity.yaml needs exactly one database connector (a `sqlite` "
                           "one loaded from db.sql), or `database:` naming one")
    return next(iter(databases.values()))


def _repository_service(config: dict[str, Any], connector: str) -> str | None:
    """The one service that reads deploys from `connector`, when it has a repository."""
    users = [s for s in config.get("services") or [] if connector in (s.get("connectors") or [])]
    if len(users) == 1 and users[0].get("repository"):
        return str(users[0]["name"])
    return None


def _github(servers: Servers, workdir: Path, deploys_file: Path, service: str,
            bundle: str) -> dict[str, Any]:
    """Serve the deploys as GitHub deployments of `bundles/<service>`; the connector settings."""
    try:
        deploys = json.loads(deploys_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read {deploys_file}: {exc}") from exc
    repo = f"bundles/{service}"
    fake = servers.github
    fake.full_name = repo
    ordered = sorted(deploys, key=lambda d: str(d["deployed_at"]), reverse=True)
    fake.deployments = [shapes.deployment(repo, len(ordered) - n, d["commit"], "production",
                                          _z(d["deployed_at"]), d.get("author") or "deploybot",
                                          d.get("description") or "")
                        for n, d in enumerate(ordered)]
    fake.statuses = {}
    fake.commits = [shapes.commit(repo, d["commit"], _z(d["deployed_at"]),
                                  d.get("description") or "deploy", d.get("author") or "deploybot",
                                  parent=d.get("previous_commit")) for d in ordered]
    fake.commit_files = {d["commit"]: [shapes.diff_entry(repo, d["commit"], f, 0, 0, None)
                                       for f in d.get("files") or []] for d in ordered}
    fake.commit_paths = {d["commit"]: set(d.get("files") or []) for d in ordered}
    fake.releases, fake.files = [], {}
    token = workdir / ".github-token"
    token.write_text(servers.github_token, encoding="utf-8")
    token.chmod(0o600)
    return {"type": "github", "repository": repo, "base_url": fake.api_url,
            "token": {"file": str(token)}, "service": service, "timeout_seconds": 10}


def _z(stamp: str) -> str:
    """GitHub's `YYYY-MM-DDTHH:MM:SSZ`."""
    return parse_timestamp(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")
