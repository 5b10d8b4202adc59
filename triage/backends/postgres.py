"""A throwaway PostgreSQL cluster on a free loopback port (as the unprivileged `postgres` or
`nobody` user when run as root), and one database per bundle with its `db.sql` loaded."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from triage.backends import BackendError

READONLY_ROLE = "triage_ro"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on this machine."""
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_user() -> tuple[list[str], Any]:
    """`runuser` to an unprivileged user when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], entry
    raise BackendError("running as root and no unprivileged user to run PostgreSQL as")


class PostgresServer:
    """initdb into a temporary directory, pg_ctl start; `stop()` removes everything.

    `durable`: fsync on (benchmarks measure commits as production pays them); off by default, for
    throwaway data. `readonly_role`: create the `triage_ro` login role production uses.
    """

    def __init__(self, *, durable: bool = False, readonly_role: bool = True,
                 max_connections: int = 200) -> None:
        self._durable, self._readonly_role = durable, readonly_role
        self._max_connections = max_connections
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise BackendError("PostgreSQL server binaries (initdb, pg_ctl) not found: install "
                               "the `postgresql` package (Debian: /usr/lib/postgresql/15/bin)")
        self._bin = bin_dir
        self._prefix, user = _as_user()
        self.root = Path(tempfile.mkdtemp(prefix="triage-eval-pg-"))
        try:  # interrupted half way (a failed initdb, Ctrl-C, SIGTERM): leave nothing behind
            self.admin_dsn = self._start(user)
        except BaseException:
            self.stop()
            raise

    def _start(self, user: Any) -> str:
        """initdb, start, wait, create the read-only role; the superuser's DSN."""
        sock = self.root / "sock"
        sock.mkdir()
        if user is not None:
            for path in (self.root, sock):
                os.chown(path, user.pw_uid, user.pw_gid)
        port = free_port()
        self._run("initdb", "-D", str(self.root / "data"), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", *([] if self._durable else ["--no-sync"]))
        fsync = "" if self._durable else " -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-w",
                  "-o", f"-p {port} -k {sock} -c listen_addresses=127.0.0.1{fsync} "
                  f"-c max_connections={self._max_connections}", "start")
        dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        _wait_ready(dsn)
        if not self._readonly_role:
            return dsn
        with psycopg.connect(dsn, autocommit=True) as conn:
            # the production setup: a login role that reads everything and writes nothing
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(READONLY_ROLE)))
            conn.execute(sql.SQL("GRANT pg_read_all_data, pg_monitor TO {}").format(
                sql.Identifier(READONLY_ROLE)))
        return dsn

    def _run(self, tool: str, *args: str) -> None:
        try:
            subprocess.run([*self._prefix, str(self._bin / tool), *args], check=True,
                           capture_output=True)
        except subprocess.CalledProcessError as exc:
            raise BackendError(f"PostgreSQL {tool} failed: {exc.stderr.decode(errors='replace')}") \
                from exc

    def dsn(self, database: str, user: str = "postgres") -> str:
        """The DSN of one database on this server, as `user`."""
        rest = self.admin_dsn.split("@", 1)[1].rsplit("/", 1)[0]
        return f"postgresql://{user}@{rest}/{database}"

    def create_database(self, name: str, script: str | None) -> str:
        """A fresh database with `script` run in it; its DSN (as the superuser)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        dsn = self.dsn(name)
        if script:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(script)  # a script: sent as one simple query
                    conn.execute("ANALYZE")
            except psycopg.Error as exc:
                raise BackendError(f"db.sql does not load into PostgreSQL: {exc}") from exc
        return dsn

    def drop_database(self, name: str) -> None:
        """Drop one bundle's database (its sessions are ended first)."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def stop(self) -> None:
        """Stop the cluster (if it ever started) and delete its files."""
        if (self.root / "data").exists():  # pg_ctl says so quickly when nothing runs
            subprocess.run([*self._prefix, str(self._bin / "pg_ctl"), "-D", str(self.root / "data"),
                            "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_ready(dsn: str, timeout: float = 30.0) -> None:
    """Return once the server accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise BackendError(f"PostgreSQL did not accept connections: {exc}") from exc
            time.sleep(0.1)
