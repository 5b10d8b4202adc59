"""What `check()` asks the server: who we are, what we can read, and anything we could write."""

from __future__ import annotations

from typing import Any

IDENTITY = """
SELECT current_user AS role, current_database() AS database,
       current_setting('server_version') AS server_version,
       current_setting('default_transaction_read_only') AS default_read_only,
       r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
       has_database_privilege(current_database(), 'CREATE') AS can_create_schemas,
       has_database_privilege(current_database(), 'TEMPORARY') AS can_create_temp,
       ARRAY(SELECT b.rolname::text FROM pg_roles b
             WHERE b.rolname IN ('pg_read_all_data', 'pg_monitor', 'pg_read_all_stats',
                                 'pg_write_all_data', 'pg_signal_backend',
                                 'pg_write_server_files', 'pg_execute_server_program',
                                 'pg_read_server_files', 'pg_checkpoint')
               AND pg_has_role(current_user, b.oid, 'USAGE')
             ORDER BY 1) AS builtin_roles
FROM pg_roles r WHERE r.rolname = current_user
"""

# Relations outside the system schemas; `relkind` r/p table, v view, m matview, f foreign.
READABLE = """
SELECT count(*) AS relations,
       count(*) FILTER (WHERE has_table_privilege(c.oid, 'SELECT')) AS readable,
       (array_agg(n.nspname || '.' || c.relname ORDER BY n.nspname, c.relname)
            FILTER (WHERE NOT has_table_privilege(c.oid, 'SELECT')))[1:5] AS unreadable
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

WRITABLE = """
SELECT n.nspname || '.' || c.relname AS relation,
       array_remove(ARRAY[
           CASE WHEN has_any_column_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
           CASE WHEN has_any_column_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
           CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
           CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL) AS privileges
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND c.relkind IN ('r', 'p', 'v', 'f')
  AND (has_any_column_privilege(c.oid, 'INSERT') OR has_any_column_privilege(c.oid, 'UPDATE')
       OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
UNION ALL
SELECT n.nspname || '.' || c.relname, ARRAY['nextval/setval']
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND c.relkind = 'S'
  AND (has_sequence_privilege(c.oid, 'UPDATE') OR has_sequence_privilege(c.oid, 'USAGE'))
UNION ALL
SELECT 'schema ' || n.nspname, ARRAY['CREATE']
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'
  AND has_schema_privilege(n.oid, 'CREATE')
ORDER BY 1
"""

# Built-in roles whose members can change data, files or other sessions.
_WRITING_ROLES = {
    "pg_write_all_data": "member of pg_write_all_data (can write every table)",
    "pg_write_server_files": "member of pg_write_server_files (can write server files)",
    "pg_execute_server_program": "member of pg_execute_server_program (can run programs)",
    "pg_signal_backend": "member of pg_signal_backend (can cancel and terminate sessions)",
    "pg_checkpoint": "member of pg_checkpoint (can force checkpoints)",
}


def write_reasons(identity: dict[str, Any], writable: list[dict[str, Any]], total: int) -> list[str]:
    """Why these credentials could write; empty when they cannot."""
    reasons = []
    if identity["rolsuper"]:
        reasons.append("superuser (can do anything)")
    for flag, text in (("rolcreaterole", "CREATEROLE (can create and alter roles)"),
                       ("rolcreatedb", "CREATEDB (can create databases)"),
                       ("can_create_schemas", f"CREATE on database {identity['database']}")):
        if identity[flag] and not identity["rolsuper"]:
            reasons.append(text)
    for role in identity["builtin_roles"] or []:
        if role in _WRITING_ROLES and not identity["rolsuper"]:
            reasons.append(_WRITING_ROLES[role])
    if writable and not identity["rolsuper"]:
        shown = ", ".join(f"{row['relation']} ({'/'.join(row['privileges'])})" for row in writable)
        more = f" and {total - len(writable)} more" if total > len(writable) else ""
        reasons.append(f"write privileges on {total} object(s): {shown}{more}")
    return reasons


def read_details(identity: dict[str, Any], readable: dict[str, Any]) -> list[str]:
    """What these credentials can read, and what they are missing for the diagnostics."""
    details = [f"reads {readable['readable']} of {readable['relations']} tables and views"]
    if readable["unreadable"]:
        details[0] += f"; cannot read e.g. {', '.join(readable['unreadable'])}"
    roles = set(identity["builtin_roles"] or [])
    if roles:
        details.append("member of " + ", ".join(sorted(roles)))
    if not identity["rolsuper"] and not roles & {"pg_monitor", "pg_read_all_stats"}:
        details.append("not a member of pg_monitor: the diagnostics cannot see other roles' "
                       "queries (see infra/sql/readonly_role.sql)")
    if identity.get("can_create_temp") and not identity["rolsuper"]:
        # Temporary tables change no data, but they are writes (disk, catalog churn) that a
        # read-only role has no use for; PUBLIC holds TEMPORARY on every database by default.
        details.append(f"can create temporary tables (TEMPORARY on database {identity['database']}, "
                       "usually through PUBLIC; infra/sql/readonly_role.sql revokes it)")
    elif not identity["rolsuper"]:
        details.append("cannot create temporary tables")
    return details
