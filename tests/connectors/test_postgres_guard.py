"""postgres guard: pglast parses, an allowlist decides; reads pass, everything else is refused."""

from __future__ import annotations

import pytest

from connectors.base import QueryRefused
from connectors.postgres import diagnostics, privileges
from connectors.postgres.allowlist import READ_FUNCTIONS, denied_reason
from connectors.postgres.guard import CURSOR_PREFIX, ReadOnlyGuard

READS = [
    ("SELECT 1", "select", 0),
    ("select status, count(*) from orders where created_at >= $1 and created_at < $2 group by 1",
     "select", 2),
    ("SELECT * FROM orders WHERE created_at < $2", "select", 2),
    ("TABLE orders", "select", 0),
    ("VALUES (1, 'a'), (2, 'b')", "select", 0),
    ("(SELECT 1) UNION ALL (SELECT 2) ORDER BY 1", "select", 0),
    ("WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t",
     "select", 0),
    ("WITH x AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM x", "select", 0),
    ("SHOW statement_timeout", "show", 0),
    ("SHOW ALL", "show", 0),
    ("EXPLAIN SELECT * FROM orders", "explain", 0),
    ("EXPLAIN (FORMAT JSON, COSTS OFF, VERBOSE) SELECT * FROM orders WHERE created_at > $1",
     "explain", 1),
    ("SELECT x->>'a', x @> '{}'::jsonb, a IS DISTINCT FROM b, c BETWEEN 1 AND 2, d LIKE 'x%', "
     "e ILIKE 'y', f SIMILAR TO 'z', g = ANY ($1), h <> ALL (ARRAY[1]), NOT i FROM t", "select", 1),
    ("SELECT extract(epoch FROM now()), trim(both FROM ' x '), substring('abc' FROM 2), "
     "now() AT TIME ZONE 'UTC', position('a' IN 'abc'), coalesce(1, 2), nullif(1, 2), "
     "greatest(1, 2), least(1, 2), current_user, current_date, localtimestamp", "select", 0),
    ("SELECT row_number() OVER w, lag(x) OVER (PARTITION BY y ORDER BY z) FROM t WINDOW w AS (ORDER BY x)",
     "select", 0),
    ("SELECT a, count(*) FILTER (WHERE b > 1), percentile_cont(0.5) WITHIN GROUP (ORDER BY c) "
     "FROM t GROUP BY GROUPING SETS ((a), ()) HAVING count(*) > 1", "select", 0),
    ("SELECT * FROM t1 JOIN LATERAL (SELECT * FROM t2 WHERE t2.id = t1.id) s ON true "
     "LEFT JOIN t3 USING (id) FULL JOIN t4 ON t4.x = t1.x", "select", 0),
    ("SELECT ARRAY(SELECT 1), EXISTS (SELECT 1), (SELECT 1), 1 IN (SELECT 1), ROW(1, 2)",
     "select", 0),
    ("SELECT 'a' COLLATE \"C\", 'orders'::regclass, CAST(x AS int), int4 '1', $2::date, x[1:2]",
     "select", 2),
    ("SELECT * FROM orders TABLESAMPLE SYSTEM (10) ORDER BY id DESC NULLS LAST "
     "OFFSET 5 FETCH FIRST 3 ROWS ONLY", "select", 0),
    ("SELECT * FROM generate_series($1, $2, interval '1 minute') AS g(ts)", "select", 2),
    ("SELECT json_object('a' VALUE 1), json_array(1, 2), '1'::json IS JSON, "
     "jsonb_path_query('{}', '$.a')", "select", 0),
    ("SELECT pg_catalog.count(*), pg_catalog.now() FROM pg_catalog.pg_stat_activity", "select", 0),
    ("SELECT pid, pg_blocking_pids(pid), pg_size_pretty(pg_total_relation_size('orders')) "
     "FROM pg_stat_activity", "select", 0),
    ("SELECT 1 -- a comment ; DELETE FROM orders", "select", 0),
    ("SELECT /* ; DELETE FROM orders; */ 1;", "select", 0),
    ("SELECT $$; DELETE FROM orders$$ AS text", "select", 0),
]


@pytest.fixture(scope="module")
def guard() -> ReadOnlyGuard:
    return ReadOnlyGuard()


@pytest.mark.parametrize(("sql", "kind", "params"), READS)
def test_reads_pass_with_their_kind_and_parameters(guard: ReadOnlyGuard, sql: str, kind: str,
                                                   params: int):
    verdict = guard.check(sql)
    assert (verdict.kind, verdict.params) == (kind, params)
    assert verdict.sql_to_run == (CURSOR_PREFIX + sql if kind == "select" else sql)


REFUSED = [
    ("DELETE FROM orders", "DELETE is not allowed: only SELECT, VALUES, TABLE, SHOW and EXPLAIN"),
    ("INSERT INTO t VALUES (1)", "INSERT is not allowed"),
    ("UPDATE t SET a = 1", "UPDATE is not allowed"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "MERGE is not allowed"),
    ("TRUNCATE t", "TRUNCATE is not allowed"),
    ("ALTER TABLE t ADD COLUMN b int", "ALTER TABLE is not allowed"),
    ("CREATE TABLE t2 AS SELECT 1", "CREATE TABLE AS is not allowed"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
     "DELETE is not allowed inside a query (data-modifying WITH?)"),
    ("WITH a AS (SELECT 1), b AS (UPDATE t SET x = 1 RETURNING 1) SELECT 1",
     "UPDATE is not allowed inside a query"),
    ("SELECT * INTO t2 FROM t", "SELECT INTO creates a table"),
    ("SELECT * FROM t FOR UPDATE", "FOR UPDATE / FOR SHARE takes row locks"),
    ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", "FOR UPDATE / FOR SHARE takes row locks"),
    ("SET statement_timeout = 0", "SET / RESET is not allowed"),
    ("RESET ALL", "SET / RESET is not allowed"),
    ("BEGIN", "transaction control is not allowed"),
    ("SAVEPOINT s", "transaction control is not allowed"),
    ("COPY t TO STDOUT", "COPY is not allowed"),
    ("DO $$ BEGIN END $$", "DO is not allowed"),
    ("CALL p()", "CALL is not allowed"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE executes the statement"),
    ("EXPLAIN (ANALYZE false) SELECT 1", "EXPLAIN ANALYZE executes the statement"),
    ("EXPLAIN (WAL) SELECT 1", "EXPLAIN option WAL is not allowed"),
    ("EXPLAIN DELETE FROM t", "EXPLAIN of DELETE is not allowed"),
    ("SELECT 1; SELECT 2", "one statement at a time, got 2"),
    ("", "empty query"),
    ("  -- nothing\n", "empty query"),
    ("SELEC 1", "not valid PostgreSQL: syntax error at or near \"SELEC\""),
    ("SELECT pg_sleep(1)", "function pg_sleep() is not allowed: it only waits"),
    ("SELECT pg_catalog.pg_terminate_backend(1)", "pg_terminate_backend() is not allowed"),
    ("SELECT \"pg_cancel_backend\"(1)", "pg_cancel_backend() is not allowed"),
    ("SELECT U&\"set\\005fconfig\"('a', 'b', false)", "function set_config() is not allowed"),
    ("SELECT dblink_exec('x', 'y')", "escapes the read-only transaction"),
    ("SELECT lo_import('/etc/passwd')", "large objects"),
    ("SELECT my_function()", "function my_function() is not on the read-only allowlist"),
    ("SELECT public.count(*) FROM t", "function public.count() is not on the read-only allowlist"),
    ("SELECT db.pg_catalog.now()", "function db.pg_catalog.now() is not on the read-only allowlist"),
    ("SELECT 1 === 2", "operator === is not a built-in read operator"),
    ("SELECT 1 OPERATOR(public.+) 2", "operator public.+ is not a built-in read operator"),
    ("SELECT $3", "$3 is not bound: only $1"),
    ("SELECT * FROM pg_authid", "pg_authid holds credentials"),
    ("SELECT * FROM pg_catalog.pg_shadow", "pg_shadow holds credentials"),
    ("LISTEN x", "LISTEN is not allowed"),
    ("VACUUM t", "VACUUM / ANALYZE is not allowed"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_everything_else_is_refused_with_the_reason(guard: ReadOnlyGuard, sql: str, reason: str):
    with pytest.raises(QueryRefused) as info:
        guard.check(sql)
    assert reason in str(info.value)


def test_allowed_functions_extend_the_allowlist_exactly():
    guard = ReadOnlyGuard(["public.order_total", "report_fn"])
    assert guard.check("SELECT public.order_total()").kind == "select"
    assert guard.check("SELECT report_fn()").kind == "select"
    with pytest.raises(QueryRefused, match="order_total"):
        guard.check("SELECT order_total()")  # unqualified is another lookup: not allowed
    with pytest.raises(QueryRefused, match=r"other_schema\.report_fn"):
        guard.check("SELECT other_schema.report_fn()")


@pytest.mark.parametrize("name", ["pg_sleep", "public.dblink_exec", "set_config", "lo_unlink",
                                  "pg_advisory_lock", "query_to_xml"])
def test_dangerous_functions_can_never_be_allowed(name: str):
    with pytest.raises(ValueError, match="can never be allowed"):
        ReadOnlyGuard([name])


def test_cursor_wrapper_is_proven_equivalent(guard: ReadOnlyGuard):
    sql = "WITH x AS (SELECT 1 AS a) SELECT a FROM x -- trailing comment"
    assert guard.check(sql).sql_to_run == CURSOR_PREFIX + sql


def test_verdicts_are_cached_per_text(guard: ReadOnlyGuard):
    assert guard.check("SELECT 42") is guard.check("SELECT 42")


def test_allowlist_and_denylist_do_not_overlap():
    assert not [name for name in READ_FUNCTIONS if denied_reason(name)]


@pytest.mark.parametrize("sql", [
    *(d.sql for d in diagnostics.DIAGNOSTICS.values() if d.name != "top_statements"),
    diagnostics.TOP_STATEMENTS.format(schema='"public"'), diagnostics.STATEMENTS_SCHEMA,
    privileges.IDENTITY, privileges.READABLE, privileges.WRITABLE,
])
def test_the_connectors_own_sql_passes_its_guard(guard: ReadOnlyGuard, sql: str):
    verdict = guard.check(sql)
    assert verdict.kind == "select"
    assert verdict.sql_to_run == CURSOR_PREFIX + sql
