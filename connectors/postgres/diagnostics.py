"""Named diagnostics the playbooks use: `\\blocking`, `\\long_running 30s`, `\\connections`, ...

Each is one SQL statement over the statistics views, run through the same guard and read-only
transaction as any query, plus a summary that states the finding in one line.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BLOCKING = """
WITH RECURSIVE waits AS MATERIALIZED (
    SELECT pid, pg_blocking_pids(pid) AS blocked_by
    FROM pg_stat_activity WHERE pid <> pg_backend_pid()
), edges AS (
    SELECT w.pid, b.blocker FROM waits w CROSS JOIN LATERAL unnest(w.blocked_by) AS b(blocker)
), tree AS (
    SELECT r.blocker AS pid, r.blocker AS root_pid, 0 AS depth, ARRAY[r.blocker] AS path,
           NULL::integer AS blocked_by_pid
    FROM (SELECT DISTINCT blocker FROM edges
          WHERE blocker NOT IN (SELECT pid FROM edges)) AS r
    UNION ALL
    SELECT e.pid, t.root_pid, t.depth + 1, t.path || e.pid, e.blocker
    FROM edges e JOIN tree t ON e.blocker = t.pid
    WHERE e.pid <> ALL (t.path)
)
SELECT t.root_pid, t.depth, t.pid, t.blocked_by_pid,
       (SELECT w.blocked_by FROM waits w WHERE w.pid = t.pid) AS blocked_by,
       a.usename AS "user", a.datname AS database, a.application_name,
       a.client_addr::text AS client_addr, a.state, a.wait_event_type, a.wait_event,
       round(extract(epoch FROM now() - a.xact_start)::numeric, 1) AS xact_seconds,
       round(extract(epoch FROM now() - a.state_change)::numeric, 1) AS state_seconds,
       left(a.query, 1000) AS query
FROM tree t LEFT JOIN pg_stat_activity a ON a.pid = t.pid
ORDER BY t.root_pid, t.path
"""

IDLE_IN_TRANSACTION = """
SELECT a.pid, a.usename AS "user", a.datname AS database, a.application_name,
       a.client_addr::text AS client_addr, a.state, a.wait_event_type, a.wait_event,
       round(extract(epoch FROM now() - a.xact_start)::numeric, 1) AS xact_seconds,
       round(extract(epoch FROM now() - a.state_change)::numeric, 1) AS idle_seconds,
       a.backend_xid::text AS backend_xid, a.backend_xmin::text AS backend_xmin,
       left(a.query, 1000) AS last_query
FROM pg_stat_activity a
WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
  AND a.pid <> pg_backend_pid() AND now() - a.state_change >= make_interval(secs => $1)
ORDER BY a.state_change
"""

LONG_RUNNING = """
SELECT a.pid, a.usename AS "user", a.datname AS database, a.application_name,
       a.client_addr::text AS client_addr, a.state, a.wait_event_type, a.wait_event,
       round(extract(epoch FROM now() - a.xact_start)::numeric, 1) AS xact_seconds, a.backend_type,
       round(extract(epoch FROM now() - a.query_start)::numeric, 1) AS running_seconds,
       left(a.query, 1000) AS query
FROM pg_stat_activity a
WHERE a.state = 'active' AND a.pid <> pg_backend_pid()
  AND now() - a.query_start >= make_interval(secs => $1)
ORDER BY a.query_start
"""

CONNECTIONS = """
SELECT coalesce(a.state, 'unknown') AS state, a.usename AS "user", a.datname AS database,
       a.application_name, count(*) AS connections,
       sum(count(*)) OVER () AS total,
       current_setting('max_connections')::integer AS max_connections,
       current_setting('superuser_reserved_connections')::integer AS reserved_connections
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend'
GROUP BY 1, 2, 3, 4
ORDER BY connections DESC, state
"""

REPLICATION = """
SELECT 'self' AS kind, CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END AS name,
       NULL AS state, NULL AS sync_state,
       CASE WHEN pg_is_in_recovery() THEN
            round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 1) END
           AS lag_seconds,
       CASE WHEN pg_is_in_recovery() THEN
            pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END AS lag_bytes
UNION ALL
SELECT 'standby', coalesce(nullif(r.application_name, ''), r.client_addr::text), r.state,
       r.sync_state, round(extract(epoch FROM r.replay_lag)::numeric, 1),
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                            ELSE pg_current_wal_lsn() END, r.replay_lsn)
FROM pg_stat_replication r
UNION ALL
SELECT 'slot', s.slot_name, CASE WHEN s.active THEN 'active' ELSE 'inactive' END, s.slot_type,
       NULL,
       pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                            ELSE pg_current_wal_lsn() END, s.restart_lsn)
FROM pg_replication_slots s
"""

_TABLES = """
SELECT s.schemaname || '.' || s.relname AS "table",
       pg_total_relation_size(s.relid) AS total_bytes,
       pg_size_pretty(pg_total_relation_size(s.relid)) AS total_size,
       pg_table_size(s.relid) AS table_bytes, pg_indexes_size(s.relid) AS index_bytes,
       s.n_live_tup AS live_tuples, s.n_dead_tup AS dead_tuples,
       round(100.0 * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0), 1) AS dead_pct,
       s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze
FROM pg_stat_user_tables s
"""
TABLE_SIZES = _TABLES + "ORDER BY total_bytes DESC, 1"
DEAD_TUPLES = _TABLES + "WHERE s.n_dead_tup > 0 ORDER BY s.n_dead_tup DESC, 1"

STATEMENTS_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
"""

# `{schema}` is the extension's schema, quoted as an identifier by the caller.
TOP_STATEMENTS = """
SELECT s.queryid::text AS queryid, r.rolname AS "user", d.datname AS database, s.calls,
       round(s.total_exec_time::numeric, 1) AS total_ms, round(s.mean_exec_time::numeric, 2) AS mean_ms,
       round((100 * s.total_exec_time / nullif(sum(s.total_exec_time) OVER (), 0))::numeric, 1)
           AS pct_time,
       s.rows, s.shared_blks_hit, s.shared_blks_read, left(s.query, 1000) AS query
FROM {schema}.pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid LEFT JOIN pg_database d ON d.oid = s.dbid
ORDER BY s.total_exec_time DESC
"""

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Diagnostic:
    """One named diagnostic: its SQL, whether it takes a threshold, how to summarise it."""

    name: str
    description: str
    sql: str
    summarize: Callable[[Rows, int], str]
    default_seconds: float | None = None


def _short(text: Any, limit: int = 120) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _blocking(rows: Rows, total: int) -> str:
    """Who blocks how many, from the root blockers down."""
    if not rows:
        return "no blocked sessions"
    roots = [row for row in rows if row["depth"] == 0]
    blocked = {row["pid"] for row in rows if row["depth"] > 0}
    parts = []
    for root in roots[:3]:
        under = {r["pid"] for r in rows if r["root_pid"] == root["pid"] and r["depth"] > 0}
        depth = max(r["depth"] for r in rows if r["root_pid"] == root["pid"])
        parts.append(f"pid {root['pid']} ({root['state']}, transaction open {root['xact_seconds']}s, "
                     f"user {root['user']}, last query: {_short(root['query'])}) blocks "
                     f"{len(under)} session(s), {depth} level(s) deep")
    return f"{len(blocked)} blocked session(s) under {len(roots)} root blocker(s): " + "; ".join(parts)


def _idle(rows: Rows, total: int) -> str:
    """How many sessions sit idle in a transaction, and the longest."""
    if not rows:
        return "no sessions idle in transaction"
    worst = rows[0]
    return (f"{total} session(s) idle in transaction; longest: pid {worst['pid']} idle "
            f"{worst['idle_seconds']}s (transaction open {worst['xact_seconds']}s, user "
            f"{worst['user']}, last query: {_short(worst['last_query'])})")


def _long(rows: Rows, total: int) -> str:
    """How many queries run past the threshold, and the longest."""
    if not rows:
        return "no long-running queries"
    worst = rows[0]
    return (f"{total} active quer(y/ies) over the threshold; longest: pid {worst['pid']} running "
            f"{worst['running_seconds']}s (user {worst['user']}, wait "
            f"{worst['wait_event_type'] or '-'}/{worst['wait_event'] or '-'}): {_short(worst['query'])}")


def _connections(rows: Rows, total: int) -> str:
    """Connections in use against max_connections, by state."""
    if not rows:
        return "no client connections visible"
    used, limit = int(rows[0]["total"]), int(rows[0]["max_connections"])
    by_state: Counter[str] = Counter()
    for row in rows:
        by_state[row["state"]] += int(row["connections"])
    states = ", ".join(f"{state} {count}" for state, count in by_state.most_common())
    return (f"{used} of {limit} connections in use ({100 * used / limit:.0f}%, "
            f"{rows[0]['reserved_connections']} reserved for superusers); by state: {states}")


def _replication(rows: Rows, total: int) -> str:
    """Replica or primary, its lag, standbys and slots retaining WAL."""
    me = next((row for row in rows if row["kind"] == "self"), None)
    standbys = [row for row in rows if row["kind"] == "standby"]
    slots = [row for row in rows if row["kind"] == "slot"]
    if me is not None and me["name"] == "replica":
        head = (f"replica: replay lag {me['lag_seconds']}s, {me['lag_bytes']} bytes received "
                "but not yet replayed")
    else:
        head = "primary (not a replica): no replication lag of its own"
    head += f"; {len(standbys)} standby(s)"
    if standbys:
        head += f", max replay lag {max((s['lag_seconds'] or 0) for s in standbys)}s"
    inactive = [s for s in slots if s["state"] == "inactive"]
    head += f"; {len(slots)} replication slot(s)"
    if inactive:
        worst = max(inactive, key=lambda s: s["lag_bytes"] or 0)
        head += (f", {len(inactive)} inactive (slot {worst['name']} retains "
                 f"{worst['lag_bytes'] or 0} bytes of WAL)")
    return head


def _tables(rows: Rows, total: int) -> str:
    """The largest user tables."""
    if not rows:
        return "no user tables"
    top = ", ".join(f"{r['table']} {r['total_size']}" for r in rows[:3])
    return f"{total} user table(s); largest: {top}"


def _dead(rows: Rows, total: int) -> str:
    """The tables with the most dead tuples."""
    if not rows:
        return "no dead tuples in any user table"
    top = ", ".join(f"{r['table']} {r['dead_tuples']} dead ({r['dead_pct']}%, last autovacuum "
                    f"{r['last_autovacuum'] or 'never'})" for r in rows[:3])
    return f"{total} table(s) with dead tuples; most: {top}"


def _statements(rows: Rows, total: int) -> str:
    """The statement that took the most total time."""
    if not rows:
        return "pg_stat_statements has no statements yet"
    top = rows[0]
    return (f"{total} statement(s) tracked; top by total time: {top['total_ms']} ms over "
            f"{top['calls']} calls ({top['pct_time']}% of all), mean {top['mean_ms']} ms: "
            f"{_short(top['query'])}")


DIAGNOSTICS: dict[str, Diagnostic] = {d.name: d for d in (
    Diagnostic("blocking", "blocked queries and the tree of sessions blocking them", BLOCKING,
               _blocking),
    Diagnostic("idle_in_transaction", "sessions idle inside an open transaction [min idle time]",
               IDLE_IN_TRANSACTION, _idle, default_seconds=0.0),
    Diagnostic("long_running", "active queries running longer than [threshold, default 5s]",
               LONG_RUNNING, _long, default_seconds=5.0),
    Diagnostic("connections", "connections in use vs max_connections, by state/user/app",
               CONNECTIONS, _connections),
    Diagnostic("replication", "replica lag, connected standbys and replication slots",
               REPLICATION, _replication),
    Diagnostic("table_sizes", "user tables by total size (with dead tuples and vacuum times)",
               TABLE_SIZES, _tables),
    Diagnostic("dead_tuples", "user tables by dead tuples", DEAD_TUPLES, _dead),
    Diagnostic("top_statements", "statements by total execution time (pg_stat_statements)",
               TOP_STATEMENTS, _statements),
)}

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_command(text: str) -> tuple[Diagnostic | None, float | None]:
    r"""`\name [duration]` -> the diagnostic (None for `\?`) and its threshold in seconds."""
    words = text.strip()[1:].split()
    if not words or words[0] in ("?", "help"):
        return None, None
    diagnostic = DIAGNOSTICS.get(words[0].lower())
    if diagnostic is None:
        raise ValueError(f"unknown diagnostic \\{words[0]}; known: "
                         + ", ".join(f"\\{name}" for name in DIAGNOSTICS))
    if len(words) > 2 or (len(words) == 2 and diagnostic.default_seconds is None):
        raise ValueError(f"\\{diagnostic.name} takes "
                         + ("one duration, e.g. 30s" if diagnostic.default_seconds is not None
                            else "no arguments"))
    if len(words) == 1:
        return diagnostic, diagnostic.default_seconds
    match = _DURATION.match(words[1].lower())
    if match is None:
        raise ValueError(f"bad duration {words[1]!r}: use e.g. 500ms, 30s, 5m, 1h")
    return diagnostic, float(match.group(1)) * _UNITS[match.group(2) or "s"]


def help_rows() -> Rows:
    """One row per diagnostic, for `\\?`."""
    return [{"command": f"\\{d.name}" + (" [duration]" if d.default_seconds is not None else ""),
             "description": d.description} for d in DIAGNOSTICS.values()]
