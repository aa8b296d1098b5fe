"""Decide whether a model-written SQL statement may run.

The statement is parsed with PostgreSQL's own parser (pglast) and its whole tree is walked:
every statement kind, relation, function call, type name, operator and parameter is checked
against an `AccessPolicy`, and any other node must be of a type known to be safe (nodes.py).
This is one of two layers; the database (unprivileged role, RLS, read-only transaction,
statement timeout) is the other. Each layer must hold on its own, so this one refuses whatever
it cannot positively account for.

Name resolution assumes the executor runs the statement with
`search_path = pg_catalog, <policy.default_schema>, pg_temp`, `standard_conforming_strings`
on (the default; SET is refused) and no bound parameters.

Known limit: PostgreSQL also calls a one-argument function written as a field selection
(`(x).f`). Field names are checked against the dangerous built-ins (see functions.py), but a
function the database owner defined in the default schema is reachable that way; the
database's grants are what govern those.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from app.sql.functions import ALLOWED_FUNCTIONS, CATALOG_LOOKUP_TYPES, unsafe_as_field
from app.sql.nodes import ALLOWED_NODES, TABLESAMPLE_METHODS
from app.sql.operations import OPERATIONS, WRITE_OPERATIONS

# SQL-standard niladic functions that are only clock readings; the others (current_user,
# session_user, current_role, user, current_catalog, current_schema) name the role or the
# database, which the model has no use for.
_CLOCK_VALUE_FUNCTIONS = frozenset({
    "current_date", "current_time", "current_time_n", "current_timestamp",
    "current_timestamp_n", "localtime", "localtime_n", "localtimestamp", "localtimestamp_n",
})

_STATEMENT_KINDS = {
    "VariableShowStmt": "SHOW", "DoStmt": "DO", "CallStmt": "CALL", "CopyStmt": "COPY",
    "ExplainStmt": "EXPLAIN", "ListenStmt": "LISTEN", "NotifyStmt": "NOTIFY",
    "UnlistenStmt": "UNLISTEN", "PrepareStmt": "PREPARE", "ExecuteStmt": "EXECUTE",
    "DeallocateStmt": "DEALLOCATE", "LockStmt": "LOCK", "TruncateStmt": "TRUNCATE",
    "CommentStmt": "COMMENT", "MergeStmt": "MERGE", "DiscardStmt": "DISCARD",
    "CheckPointStmt": "CHECKPOINT", "LoadStmt": "LOAD", "SecLabelStmt": "SECURITY LABEL",
    "ImportForeignSchemaStmt": "IMPORT FOREIGN SCHEMA",
    "RefreshMatViewStmt": "REFRESH MATERIALIZED VIEW", "ClusterStmt": "CLUSTER",
    "ReindexStmt": "REINDEX", "DeclareCursorStmt": "DECLARE", "ClosePortalStmt": "CLOSE",
    "ReassignOwnedStmt": "REASSIGN OWNED",
    "ConstraintsSetStmt": "SET CONSTRAINTS", "IndexStmt": "CREATE", "ViewStmt": "CREATE",
    "RuleStmt": "CREATE", "DefineStmt": "CREATE", "CompositeTypeStmt": "CREATE",
    "RenameStmt": "ALTER", "ReplicaIdentityStmt": "ALTER",
}

_TRANSACTION_KINDS = {
    enums.TransactionStmtKind.TRANS_STMT_BEGIN: "BEGIN",
    enums.TransactionStmtKind.TRANS_STMT_START: "START TRANSACTION",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT: "COMMIT",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK: "ROLLBACK",
    enums.TransactionStmtKind.TRANS_STMT_SAVEPOINT: "SAVEPOINT",
    enums.TransactionStmtKind.TRANS_STMT_RELEASE: "RELEASE SAVEPOINT",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_TO: "ROLLBACK TO SAVEPOINT",
    enums.TransactionStmtKind.TRANS_STMT_PREPARE: "PREPARE TRANSACTION",
    enums.TransactionStmtKind.TRANS_STMT_COMMIT_PREPARED: "COMMIT PREPARED",
    enums.TransactionStmtKind.TRANS_STMT_ROLLBACK_PREPARED: "ROLLBACK PREPARED",
}

_LOCKING = {
    enums.LockClauseStrength.LCS_FORKEYSHARE: "FOR KEY SHARE",
    enums.LockClauseStrength.LCS_FORSHARE: "FOR SHARE",
    enums.LockClauseStrength.LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
    enums.LockClauseStrength.LCS_FORUPDATE: "FOR UPDATE",
}

# Where the raw tree keeps an operator name; a qualified one can name any schema's operator.
_OPERATOR_FIELDS = {ast.A_Expr: "name", ast.SortBy: "useOp", ast.SubLink: "operName"}

_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_$]*\Z")


class SqlRefused(Exception):
    """The statement may not run. `reason` is shown verbatim to the model and the client.

    `category` is one of: parse, statement_count, operation, locking, table, function, type,
    parameter, operator, syntax, complexity.
    """

    def __init__(self, reason: str, category: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.category = category


@dataclass(frozen=True)
class AccessPolicy:
    """What a chatbot's statements may touch.

    `allowed_tables=None` means every table in `allowed_schemas`. A given set is exhaustive,
    and its (schema, table) pairs are allowed even when the schema is not in `allowed_schemas`.
    """

    allowed_operations: frozenset[str] = frozenset({"SELECT"})
    allowed_schemas: tuple[str, ...] = ("public",)
    allowed_tables: frozenset[tuple[str, str]] | None = None

    def __post_init__(self) -> None:
        operations = frozenset(op.upper() for op in self.allowed_operations)
        unknown = operations - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations: {', '.join(sorted(unknown))}")
        object.__setattr__(self, "allowed_operations", operations)
        object.__setattr__(self, "allowed_schemas", tuple(self.allowed_schemas))
        if self.allowed_tables is not None:
            object.__setattr__(self, "allowed_tables", frozenset(map(tuple, self.allowed_tables)))

    @property
    def default_schema(self) -> str:
        return self.allowed_schemas[0] if self.allowed_schemas else "public"

    def allows_table(self, schema: str, table: str) -> bool:
        if self.allowed_tables is None:
            return schema in self.allowed_schemas
        return (schema, table) in self.allowed_tables

    @classmethod
    def from_config(cls, allowed_tables: Iterable[str], allowed_schemas: Iterable[str],
                    allowed_operations: Iterable[str]) -> AccessPolicy:
        """Build a policy from annotation values.

        `*` means every table of the allowed schemas (other names beside it add nothing, as
        in the annotation); a bare table name means `public`, whatever the schemas; an empty
        table list allows no table. Empty schemas fall back to `public`, empty operations to
        SELECT. Names are folded to lower case unless double-quoted.
        """
        tables = [t.strip() for t in allowed_tables if t.strip()]
        schemas = tuple(_config_name(s) for s in allowed_schemas if s.strip()) or ("public",)
        operations = frozenset(o.strip().upper() for o in allowed_operations if o.strip())
        table_set = None if "*" in tables else frozenset(_config_table(t) for t in tables)
        return cls(operations or frozenset({"SELECT"}), schemas, table_set)


@dataclass(frozen=True)
class CheckedStatement:
    """A statement the policy allows.

    `operation` is the top-level statement kind; `tables` are resolved (schema, table) pairs;
    `functions` are allow-listed names without `pg_catalog.`; `writes` is true when the
    top-level statement is an INSERT, UPDATE or DELETE (nested ones are refused).
    """

    operation: str
    tables: frozenset[tuple[str, str]]
    functions: frozenset[str]
    writes: bool


def check_sql(sql: str, policy: AccessPolicy) -> CheckedStatement:
    """Return what the statement does, or raise SqlRefused saying why it may not run."""
    if "\0" in sql:
        # The parser stops at NUL and would never see what follows it.
        raise SqlRefused("Could not parse SQL: NUL character in statement", "parse")
    try:
        statements = parse_sql(sql)
    except ParseError as error:
        raise SqlRefused(f"Could not parse SQL: {error}", "parse") from None
    except RecursionError:
        raise SqlRefused("Could not parse SQL: statement is nested too deeply", "parse") from None
    if not statements:
        raise SqlRefused("No SQL statement given", "statement_count")
    if len(statements) > 1:
        raise SqlRefused("Only one statement is allowed", "statement_count")
    stmt = statements[0].stmt
    operation = _statement_kind(stmt)
    if operation not in OPERATIONS or operation not in policy.allowed_operations:
        _refuse_operation(operation)
    walker = _Walker(policy, stmt)
    try:
        walker.visit(stmt, frozenset())
    except RecursionError:
        raise SqlRefused("Statement is nested too deeply", "complexity") from None
    return CheckedStatement(
        operation=operation,
        tables=frozenset(walker.tables),
        functions=frozenset(walker.functions),
        writes=operation in WRITE_OPERATIONS,
    )


class _Walker:
    """Recursive walk over the raw parse tree, carrying the CTE names in scope."""

    def __init__(self, policy: AccessPolicy, top: ast.Node) -> None:
        self.policy = policy
        self.top = top
        self.tables: set[tuple[str, str]] = set()
        self.functions: set[str] = set()

    def visit(self, node: object, ctes: frozenset[str]) -> None:
        if isinstance(node, (list, tuple)):
            for item in node:
                self.visit(item, ctes)
            return
        if not isinstance(node, ast.Node):
            return
        if isinstance(node, ast.SelectStmt):
            self._select(node, ctes)
        elif isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
            self._modify(node, ctes)
        elif type(node).__name__.endswith("Stmt"):
            _refuse_operation(_statement_kind(node))
        else:
            self._check_leaf(node, ctes)
            self._children(node, ctes)

    def _children(self, node: ast.Node, ctes: frozenset[str], skip: tuple[str, ...] = ()) -> None:
        for name in type(node).__slots__:
            if name not in skip:
                self.visit(getattr(node, name, None), ctes)

    def _select(self, node: ast.SelectStmt, ctes: frozenset[str]) -> None:
        if node.intoClause is not None:
            _refuse_operation("SELECT INTO")
        # Reading needs SELECT wherever it happens (INSERT ... SELECT, subqueries in a write);
        # a bare VALUES list reads nothing.
        if not node.valuesLists:
            self._require("SELECT")
        if node.lockingClause:
            strength = _LOCKING[node.lockingClause[0].strength]
            raise SqlRefused(f"Locking clause not allowed: {strength}", "locking")
        self._children(node, self._with(node.withClause, ctes), skip=("withClause",))

    def _modify(self, node: ast.InsertStmt | ast.UpdateStmt | ast.DeleteStmt,
                ctes: frozenset[str]) -> None:
        kind = _statement_kind(node)
        self._require(kind)
        conflict = getattr(node, "onConflictClause", None)
        if conflict is not None and conflict.action == enums.OnConflictAction.ONCONFLICT_UPDATE:
            self._require("UPDATE")
        if node is not self.top:
            # The executor commits only when the top-level command writes, so a nested write
            # would be rolled back after the model was told it worked. The grammar allows
            # writes below the top only as CTEs.
            _refuse_operation(f"{kind} inside WITH")
        # The target is always a real relation: PostgreSQL never resolves it to a CTE.
        self._table(node.relation, frozenset())
        self._children(node, self._with(node.withClause, ctes), skip=("withClause", "relation"))

    def _with(self, clause: ast.WithClause | None, ctes: frozenset[str]) -> frozenset[str]:
        """Walk the CTE definitions; return the names visible to the statement body.

        With RECURSIVE every CTE sees all names of its list; without, each sees only the ones
        before it, so its own name (and later ones) inside its definition are real tables.
        """
        if clause is None:
            return ctes
        if clause.recursive:
            scope = ctes | {cte.ctename for cte in clause.ctes}
            self.visit(clause.ctes, scope)
            return scope
        scope = ctes
        for cte in clause.ctes:
            self.visit(cte, scope)
            scope = scope | {cte.ctename}
        return scope

    def _require(self, operation: str) -> None:
        if operation not in self.policy.allowed_operations:
            _refuse_operation(operation)

    def _check_leaf(self, node: ast.Node, ctes: frozenset[str]) -> None:
        if isinstance(node, ast.ParamRef):
            raise SqlRefused(f"Parameters are not allowed: ${node.number}", "parameter")
        if type(node) not in ALLOWED_NODES:
            raise SqlRefused(f"Syntax not allowed: {type(node).__name__}", "syntax")
        if isinstance(node, ast.RangeVar):
            self._table(node, ctes)
        elif isinstance(node, ast.FuncCall):
            self._function([part.sval for part in node.funcname])
        elif isinstance(node, ast.SQLValueFunction):
            name = node.op.name.removeprefix("SVFOP_").lower()
            if name not in _CLOCK_VALUE_FUNCTIONS:
                raise SqlRefused(f"Function not allowed: {name}", "function")
        elif isinstance(node, ast.TypeName):
            type_name = node.names[-1].sval if node.names else ""
            if type_name.lower() in CATALOG_LOOKUP_TYPES:
                raise SqlRefused(f"Type not allowed: {type_name}", "type")
        elif isinstance(node, ast.ColumnRef):
            self._fields(node.fields[1:])
        elif isinstance(node, ast.A_Indirection):
            self._fields(node.indirection)
        elif isinstance(node, ast.RangeTableSample):
            # The method names a handler function, looked up like any other function name;
            # it is no function the query calls, so `functions` does not report it.
            self._function([part.sval for part in node.method], TABLESAMPLE_METHODS, record=False)
        elif type(node) in _OPERATOR_FIELDS:
            self._operator(getattr(node, _OPERATOR_FIELDS[type(node)]) or ())

    def _table(self, node: ast.RangeVar, ctes: frozenset[str]) -> None:
        written = ".".join(_quote(part) for part in (node.catalogname, node.schemaname,
                                                       node.relname) if part)
        if node.catalogname:
            raise SqlRefused(f"Table not allowed: {written}", "table")
        if node.schemaname is None and node.relname in ctes:
            return
        schema = node.schemaname
        if schema is None:
            # pg_catalog comes first in the search path and every catalog relation is pg_*.
            schema = "pg_catalog" if node.relname.startswith("pg_") else self.policy.default_schema
        if not self.policy.allows_table(schema, node.relname):
            raise SqlRefused(f"Table not allowed: {written}", "table")
        self.tables.add((schema, node.relname))

    def _function(self, parts: list[str], allowed: frozenset[str] = ALLOWED_FUNCTIONS,
                  record: bool = True) -> None:
        # pg_catalog is searched first anyway; any other qualifier reaches functions the
        # allow-list never vetted, so a qualified name is allowed only as pg_catalog.
        if len(parts) == 2 and parts[0] == "pg_catalog":
            parts = parts[1:]
        name = ".".join(parts)
        if name not in allowed:
            raise SqlRefused(f"Function not allowed: {name}", "function")
        if record:
            self.functions.add(name)

    def _fields(self, parts: Iterable[ast.Node]) -> None:
        for part in parts:
            if isinstance(part, ast.String) and unsafe_as_field(part.sval):
                raise SqlRefused(f"Function not allowed: {part.sval}", "function")

    def _operator(self, parts: Iterable[ast.String]) -> None:
        names = [part.sval for part in parts]
        if len(names) > 1 and names[0] not in ("pg_catalog", self.policy.default_schema):
            raise SqlRefused(f"Operator not allowed: {'.'.join(names)}", "operator")


def _statement_kind(node: ast.Node) -> str:
    """The SQL words naming a statement, as used in `Operation not allowed: <KIND>`."""
    name = type(node).__name__
    if isinstance(node, ast.SelectStmt):
        return "SELECT INTO" if node.intoClause is not None else "SELECT"
    if isinstance(node, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)):
        return name.removesuffix("Stmt").upper()
    if isinstance(node, ast.VariableSetStmt):
        reset = node.kind in (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)
        return "RESET" if reset else "SET"
    if isinstance(node, ast.TransactionStmt):
        return _TRANSACTION_KINDS.get(node.kind, "TRANSACTION")
    if isinstance(node, ast.VacuumStmt):
        return "VACUUM" if node.is_vacuumcmd else "ANALYZE"
    if isinstance(node, (ast.GrantStmt, ast.GrantRoleStmt)):
        return "GRANT" if node.is_grant else "REVOKE"
    if isinstance(node, ast.FetchStmt):
        return "MOVE" if node.ismove else "FETCH"
    if name in _STATEMENT_KINDS:
        return _STATEMENT_KINDS[name]
    for prefix in ("Create", "Alter", "Drop"):
        if name.startswith(prefix):
            return prefix.upper()
    return name.removesuffix("Stmt").upper()


def _refuse_operation(kind: str) -> None:
    raise SqlRefused(f"Operation not allowed: {kind}", "operation")


def _quote(identifier: str) -> str:
    if _PLAIN_IDENTIFIER.match(identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _config_name(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name.lower()


def _config_table(entry: str) -> tuple[str, str]:
    parts = entry.split(".")
    if len(parts) == 1:
        return ("public", _config_name(parts[0]))
    if len(parts) == 2 and all(p.strip() for p in parts):
        return (_config_name(parts[0]), _config_name(parts[1]))
    raise ValueError(f"not a table name: {entry!r}")
