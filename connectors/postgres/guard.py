"""The read-only guard: parse with pglast (PostgreSQL's own parser) and allow one read.

Allowed: a single SELECT / VALUES / TABLE (with read-only CTEs), SHOW, or EXPLAIN of such a
query without ANALYZE. Every node of the parse tree must be of a kind listed in
`_READ_NODES`, every function and operator must be on the allowlist (`allowlist.py`), and
`$1` / `$2` are the only parameters (the request's start and end). Anything else is refused
with the reason: data-modifying CTEs, SELECT INTO, FOR UPDATE/SHARE, SET, transaction
control, COPY, DO, CALL, side-effect functions, several statements.

The guard is the connector's half of "read-only twice"; the other half is the server
(`BEGIN READ ONLY`, timeouts, and a read-only role), so a function the guard allows but that
writes inside still fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pglast
from pglast import ast
from pglast.enums import A_Expr_Kind
from pglast.parser import ParseError

from connectors.base import QueryRefused
from connectors.postgres.allowlist import (
    READ_FUNCTIONS,
    READ_OPERATORS,
    SECRET_RELATIONS,
    denied_reason,
    words,
)

CURSOR_NAME = "triage_cursor"
CURSOR_PREFIX = f"DECLARE {CURSOR_NAME} NO SCROLL CURSOR FOR "
MAX_PARAM = 2
_CACHE_SIZE = 1024

# Raw parse-tree node kinds that can only describe reading. Statement kinds other than
# SelectStmt (and the top-level ExplainStmt / VariableShowStmt) are not here.
_READ_NODES = frozenset(words("""
    SelectStmt ResTarget ColumnRef A_Star A_Const Integer Float String Boolean BitString A_Expr
    BoolExpr NullTest BooleanTest FuncCall TypeCast TypeName CaseExpr CaseWhen CoalesceExpr
    MinMaxExpr RowExpr SubLink A_ArrayExpr A_Indirection A_Indices CollateClause RangeVar
    RangeSubselect RangeFunction JoinExpr Alias SortBy WindowDef WithClause CommonTableExpr
    CTESearchClause CTECycleClause GroupingSet GroupingFunc ParamRef SQLValueFunction
    NamedArgExpr RangeTableSample XmlExpr XmlSerialize RangeTableFunc RangeTableFuncCol
    JsonAggConstructor JsonArgument JsonArrayAgg JsonArrayConstructor JsonArrayQueryConstructor
    JsonBehavior JsonFormat JsonFuncExpr JsonIsPredicate JsonKeyValue JsonObjectAgg
    JsonObjectConstructor JsonOutput JsonParseExpr JsonReturning JsonScalarExpr
    JsonSerializeExpr JsonTable JsonTableColumn JsonTablePathSpec JsonValueExpr
"""))

# Options of a plain EXPLAIN; ANALYZE (which executes the statement) is not among them.
_EXPLAIN_OPTIONS = frozenset(
    {"verbose", "costs", "settings", "summary", "format", "generic_plan", "memory", "buffers"})

_STATEMENT_NAMES = {
    "InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "MergeStmt": "MERGE",
    "VariableSetStmt": "SET / RESET", "TransactionStmt": "transaction control",
    "CopyStmt": "COPY", "DoStmt": "DO", "CallStmt": "CALL", "CreateTableAsStmt": "CREATE TABLE AS",
    "TruncateStmt": "TRUNCATE", "LockStmt": "LOCK", "ExecuteStmt": "EXECUTE",
    "PrepareStmt": "PREPARE", "DeclareCursorStmt": "DECLARE CURSOR", "FetchStmt": "FETCH",
    "ListenStmt": "LISTEN", "NotifyStmt": "NOTIFY", "VacuumStmt": "VACUUM / ANALYZE",
    "DiscardStmt": "DISCARD", "LoadStmt": "LOAD", "CheckPointStmt": "CHECKPOINT",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW", "ReindexStmt": "REINDEX",
    "ClusterStmt": "CLUSTER", "AlterSystemStmt": "ALTER SYSTEM", "GrantStmt": "GRANT / REVOKE",
    "DropStmt": "DROP", "CreateStmt": "CREATE TABLE",
}

StatementKind = Literal["select", "show", "explain"]


@dataclass(frozen=True)
class Verdict:
    """A query the guard allowed: what kind of read it is, how many parameters it uses, and the
    text to send (SELECT-family queries wrapped in a cursor, so that the row cap is real)."""

    kind: StatementKind
    params: int
    sql_to_run: str

    @property
    def use_cursor(self) -> bool:
        """Whether `sql_to_run` declares a cursor to FETCH from."""
        return self.kind == "select"


def _statement_name(node: ast.Node | None) -> str:
    """A statement kind as people write it (`DeleteStmt` -> DELETE)."""
    name = type(node).__name__
    if name in _STATEMENT_NAMES:
        return _STATEMENT_NAMES[name]
    if name.endswith("Stmt"):
        words = "".join(f" {c}" if c.isupper() else c for c in name[:-4]).strip()
        return words.upper()
    return name


def _names(items: Iterable[Any] | None) -> list[str]:
    """The string parts of a qualified name."""
    return [str(item.sval) for item in items or () if isinstance(item, ast.String)]


class ReadOnlyGuard:
    """Checks one SQL text; remembers the verdicts of recent texts (playbooks repeat them)."""

    def __init__(self, allowed_functions: Iterable[str] = ()) -> None:
        extra = {name.lower() for name in allowed_functions}
        for name in extra:
            if reason := denied_reason(name.rsplit(".", 1)[-1]):
                raise ValueError(f"function {name} can never be allowed: {reason}")
        self._extra = frozenset(extra)
        self._cache: dict[str, Verdict] = {}

    def check(self, sql: str) -> Verdict:
        """The verdict for `sql`, or `QueryRefused` saying why it is not a plain read."""
        if (cached := self._cache.get(sql)) is not None:
            return cached
        verdict = self._check(sql)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[sql] = verdict
        return verdict

    def _check(self, sql: str) -> Verdict:
        """Parse and judge `sql` (uncached)."""
        try:
            statements = pglast.parse_sql(sql)
        except ParseError as exc:
            raise QueryRefused(f"not valid PostgreSQL: {exc}") from None
        if not statements:
            raise QueryRefused("empty query: nothing to run")
        if len(statements) > 1:
            raise QueryRefused(f"one statement at a time, got {len(statements)}")
        stmt = statements[0].stmt
        walker = _Walker(self._extra)
        kind: StatementKind
        if isinstance(stmt, ast.SelectStmt):
            kind = "select"
            walker.walk(stmt)
        elif isinstance(stmt, ast.VariableShowStmt):
            kind = "show"
        elif isinstance(stmt, ast.ExplainStmt):
            kind = "explain"
            _check_explain_options(stmt.options or ())
            if not isinstance(stmt.query, ast.SelectStmt):
                raise QueryRefused(f"EXPLAIN of {_statement_name(stmt.query)} is not allowed: "
                                   "only EXPLAIN of a read")
            walker.walk(stmt.query)
        else:
            raise QueryRefused(f"{_statement_name(stmt)} is not allowed: only SELECT, VALUES, "
                               "TABLE, SHOW and EXPLAIN (without ANALYZE) run here")
        to_run = _cursor_sql(sql, stmt) if kind == "select" else sql
        return Verdict(kind=kind, params=walker.max_param, sql_to_run=to_run)


def _cursor_sql(sql: str, statement: ast.Node) -> str:
    """`sql` wrapped in DECLARE CURSOR, re-parsed to prove the wrapper changed nothing."""
    wrapped = CURSOR_PREFIX + sql
    try:
        parsed = pglast.parse_sql(wrapped)
    except ParseError as exc:
        raise QueryRefused(f"cannot run as a cursor: {exc}") from None
    ok = (len(parsed) == 1 and isinstance(parsed[0].stmt, ast.DeclareCursorStmt)
          and parsed[0].stmt.portalname == CURSOR_NAME and parsed[0].stmt.query == statement)
    if not ok:
        raise QueryRefused("cannot run as a cursor: the query does not stand alone")
    return wrapped


def _check_explain_options(options: Iterable[ast.DefElem]) -> None:
    """Refuse ANALYZE and any option not known to be harmless."""
    for option in options:
        name = (option.defname or "").lower()
        if name == "analyze":
            raise QueryRefused("EXPLAIN ANALYZE executes the statement; only plain EXPLAIN "
                               "is allowed")
        if name not in _EXPLAIN_OPTIONS:
            raise QueryRefused(f"EXPLAIN option {name.upper()} is not allowed")


class _Walker:
    """Visits every node of a SELECT and refuses anything that is not a read."""

    def __init__(self, extra_functions: frozenset[str]) -> None:
        self._extra = extra_functions
        self.max_param = 0

    def walk(self, node: Any) -> None:
        """Check `node` and everything below it."""
        if isinstance(node, (list, tuple)):
            for item in node:
                self.walk(item)
            return
        if not isinstance(node, ast.Node):
            return
        name = type(node).__name__
        if name not in _READ_NODES:
            raise QueryRefused(self._why_not(node))
        check = getattr(self, f"_check_{name}", None)
        if check is not None:
            check(node)
        slots: Iterable[str] = getattr(type(node), "__slots__", ())
        for slot in slots:
            self.walk(getattr(node, slot, None))

    @staticmethod
    def _why_not(node: ast.Node) -> str:
        """Why a node kind is not allowed, in the words a user would use."""
        name = type(node).__name__
        if name.endswith("Stmt"):
            return f"{_statement_name(node)} is not allowed inside a query (data-modifying WITH?)"
        if name == "LockingClause":
            return "FOR UPDATE / FOR SHARE takes row locks and is not allowed"
        return f"{name} is not allowed in a read-only query"

    def _check_SelectStmt(self, node: ast.SelectStmt) -> None:
        """No SELECT INTO, no row locks."""
        if node.intoClause is not None:
            raise QueryRefused("SELECT INTO creates a table and is not allowed")
        if node.lockingClause:
            raise QueryRefused("FOR UPDATE / FOR SHARE takes row locks and is not allowed")

    def _check_FuncCall(self, node: ast.FuncCall) -> None:
        """Only allowlisted functions (built-in, or named in the settings)."""
        parts = [part.lower() for part in _names(node.funcname)]
        qualified = ".".join(parts)
        bare = parts[-1]
        if reason := denied_reason(bare):
            raise QueryRefused(f"function {qualified}() is not allowed: {reason}")
        schema = parts[0] if len(parts) == 2 else None
        if len(parts) <= 2 and schema in (None, "pg_catalog") and bare in READ_FUNCTIONS:
            return
        if qualified in self._extra:
            return
        raise QueryRefused(f"function {qualified}() is not on the read-only allowlist (a "
                           "deployment can add functions that only read to `allowed_functions`)")

    def _check_A_Expr(self, node: ast.A_Expr) -> None:
        """Only built-in operators."""
        if node.kind not in (A_Expr_Kind.AEXPR_OP, A_Expr_Kind.AEXPR_OP_ANY,
                             A_Expr_Kind.AEXPR_OP_ALL):
            return
        parts = _names(node.name)
        schema = parts[0] if len(parts) == 2 else None
        if schema not in (None, "pg_catalog") or parts[-1] not in READ_OPERATORS:
            raise QueryRefused(f"operator {'.'.join(parts)} is not a built-in read operator")

    def _check_RangeVar(self, node: ast.RangeVar) -> None:
        """No catalogs that hold credentials."""
        if (node.relname in SECRET_RELATIONS
                and node.schemaname in (None, "pg_catalog") and node.catalogname is None):
            raise QueryRefused(f"{node.relname} holds credentials and is not readable here")

    def _check_ParamRef(self, node: ast.ParamRef) -> None:
        """Only $1 and $2, and remember the highest used."""
        number = node.number or 0
        if not 1 <= number <= MAX_PARAM:
            raise QueryRefused(f"${number} is not bound: only $1 (start of the time range) "
                               "and $2 (end) are")
        self.max_param = max(self.max_param, number)
