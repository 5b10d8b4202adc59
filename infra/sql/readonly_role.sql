-- The recommended production setup for the triage PostgreSQL connector: a login role that can
-- read every table and the statistics views, and write nothing.
--
-- Run once per cluster as a superuser (PostgreSQL 14 or newer), then set its password without
-- it landing in shell history or server logs, and grant CONNECT on the databases to watch:
--
--     psql -d postgres -f infra/sql/readonly_role.sql
--     psql -d postgres -c '\password triage_ro'
--     -- for each database it should read (if PUBLIC's CONNECT was revoked):
--     GRANT CONNECT ON DATABASE app TO triage_ro;
--
-- `triage connectors test` then reports `can_write=False`. The connector adds its own layers on
-- top (a pglast guard, BEGIN READ ONLY, timeouts), but this role is what makes a write
-- impossible even if every layer above it were bypassed. The script is idempotent.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'triage_ro') THEN
        CREATE ROLE triage_ro LOGIN;
    END IF;
END
$$;

-- No role attributes that could write or escalate; a small connection budget.
ALTER ROLE triage_ro NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT
    CONNECTION LIMIT 10;

-- SELECT on every table, view and sequence (current and future), USAGE on every schema.
GRANT pg_read_all_data TO triage_ro;
-- pg_stat_activity with other roles' queries, pg_stat_statements, sizes, replication state.
GRANT pg_monitor TO triage_ro;

-- Read-only defaults for every session of this role, even outside the connector.
ALTER ROLE triage_ro SET default_transaction_read_only = on;
ALTER ROLE triage_ro SET statement_timeout = '30s';
ALTER ROLE triage_ro SET lock_timeout = '2s';
ALTER ROLE triage_ro SET idle_in_transaction_session_timeout = '60s';

-- PostgreSQL 14 and older let every role create objects in schema `public`; PostgreSQL 15
-- changed that default. On an older cluster, `triage connectors test` will report
-- "CREATE on schema public" until you run (it affects every role, so decide deliberately):
--     REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- PUBLIC holds TEMPORARY on every database by default, so any role can CREATE TEMP TABLE.
-- Revoke it database by database (TEMPORARY is a database privilege) and give it back to the
-- login roles that have it today through PUBLIC, so existing applications keep their temporary
-- tables; roles created later need an explicit `GRANT TEMPORARY ON DATABASE ... TO role`.
-- Databases created later start with PUBLIC's default again: re-run this script after creating
-- one (it only acts where PUBLIC still holds TEMPORARY). `triage connectors test` says
-- "cannot create temporary tables" once it is done.
DO $$
DECLARE
    db text;
    grantee text;
BEGIN
    FOR db IN
        SELECT d.datname FROM pg_database d
        WHERE d.datallowconn AND NOT d.datistemplate
          AND EXISTS (SELECT FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                      WHERE a.grantee = 0 AND a.privilege_type = 'TEMPORARY')
    LOOP
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', db);
        FOR grantee IN
            SELECT r.rolname FROM pg_roles r
            WHERE r.rolcanlogin AND NOT r.rolsuper AND r.rolname <> 'triage_ro'
              AND r.rolname !~ '^pg_'
        LOOP
            EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', db, grantee);
        END LOOP;
    END LOOP;
END
$$;
