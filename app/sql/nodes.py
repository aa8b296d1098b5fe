"""The parse-tree node types a model-written statement may contain.

An allow-list, like functions.py and for the same reason: the function allow-list only sees
FuncCall nodes, yet PostgreSQL keeps adding syntax that evaluates functions through nodes of
its own (XMLELEMENT, XMLTABLE, JSON_QUERY, JSON_TABLE, MERGE_ACTION, ...), and every release
may add more. A node type not named here is refused, so new syntax stays out until someone
has looked at what it runs.

Statements are not listed: SELECT, INSERT, UPDATE and DELETE have their own handling in the
guard, every other statement is refused as an operation. WithClause is walked by the guard
itself (it scopes CTE names), and IntoClause and LockingClause are refused before their
statement's children are walked. ParamRef is refused with its own reason.
"""
from __future__ import annotations

from pglast import ast

ALLOWED_NODES: frozenset[type[ast.Node]] = frozenset({
    # Literals. A_Const wraps one of these, or nothing for NULL.
    ast.A_Const, ast.String, ast.Integer, ast.Float, ast.Boolean, ast.BitString,
    # Expressions. Those that call something name it where the guard checks it: FuncCall its
    # function, A_Expr/SubLink/SortBy their operator, TypeCast/TypeName their type,
    # ColumnRef/A_Indirection their field names (field selection can call a function).
    ast.ColumnRef, ast.A_Expr, ast.BoolExpr, ast.FuncCall, ast.NamedArgExpr, ast.TypeCast,
    ast.TypeName, ast.CollateClause, ast.SubLink, ast.CaseExpr, ast.CaseWhen, ast.CoalesceExpr,
    ast.MinMaxExpr, ast.NullTest, ast.BooleanTest, ast.A_Indirection, ast.A_Indices, ast.A_Star,
    ast.A_ArrayExpr, ast.RowExpr, ast.GroupingFunc,
    # Only clock readings get through: the guard refuses the other SQLValueFunction kinds.
    ast.SQLValueFunction,
    # Query clauses.
    ast.ResTarget, ast.Alias, ast.RangeVar, ast.RangeSubselect, ast.RangeFunction, ast.JoinExpr,
    ast.CommonTableExpr, ast.SortBy, ast.WindowDef, ast.GroupingSet,
    # SEARCH/CYCLE of a recursive CTE only add computed columns over the CTE's own columns.
    ast.CTESearchClause, ast.CTECycleClause,
    # Column definition list of a record-returning function in FROM (`AS t(a int)`); the
    # grammar allows only a name, a type and a collation there.
    ast.ColumnDef,
    # The sampling method is a function; the guard lets through only the built-in two.
    ast.RangeTableSample,
    # Write clauses. DEFAULT evaluates the column default, which is the table owner's code.
    ast.OnConflictClause, ast.InferClause, ast.IndexElem, ast.MultiAssignRef, ast.SetToDefault,
    ast.ReturningClause, ast.ReturningOption,
})

# TABLESAMPLE methods, resolved like functions (pg_catalog first). Extension methods such as
# system_time are left out: nothing in an analytical question needs them.
TABLESAMPLE_METHODS = frozenset({"bernoulli", "system"})
