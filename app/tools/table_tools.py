"""query_table, insert_record, update_record, delete_record: structured data tools instead of SQL.

Each call names an allowed table and an allowed operation (app/tools/table_access.py), its
arguments become a statement of identifiers and bound values (app/tools/table_filters.py), and
that statement runs as the end user through the same executor as `execute_sql`: role, JWT claims
and row-level security, timeouts, row and byte caps, cancellation. Like `execute_sql`, every
attempt is audited, the client gets a `query_result` with the statement text, and the model a
summary and a few sample rows.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from psycopg import sql

from app import protocol
from app.knowledge.records import LOCAL_DIMENSIONS
from app.sql.executor import ExecutorUnavailable, QueryFailed
from app.sql.results import model_view, summarize
from app.tools.base import Tool, ToolContext, ToolError
from app.tools.scopes import READ_TABLES, WRITE_TABLES
from app.tools.sql_audit import audit_attempt as _audit
from app.tools.sql_audit import refuse_attempt as _refuse
from app.tools.table_access import resolve_table
from app.tools.table_filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    column_value,
    filter_conditions,
    limit_offset,
    order_by,
    returning,
    select_list,
    where_clause,
)
from app.tools.table_sql import Statement, TableInfo, Value, statement

__all__ = ["DATA_TOOLS", "DELETE_RECORD", "INSERT_RECORD", "QUERY_TABLE", "UPDATE_RECORD"]

log = logging.getLogger(__name__)

MAX_INSERT_ROWS = 1000
# PostgreSQL takes at most 65,535 bound parameters per statement; stay well below it.
MAX_INSERT_VALUES = 30_000
MAX_SHOWN_CALL = 2000
MAX_VECTOR_QUERY = 2000


# -- running, refusing, auditing ------------------------------------------------------------------

def _call_text(tool: str, arguments: dict) -> str:
    """What a call that never became a statement is shown and audited as."""
    text = f"{tool} {json.dumps(arguments, ensure_ascii=False, default=str)}"
    return text if len(text) <= MAX_SHOWN_CALL else text[:MAX_SHOWN_CALL] + "…"


def _record_refusal(tool_name: str) -> Callable[[ToolContext, dict, str], None]:
    """The registry's refusal (a missing scope) audited and shown like any other refusal of the tool."""
    def record(ctx: ToolContext, arguments: dict, reason: str) -> None:
        text = _call_text(tool_name, arguments)
        _audit(ctx, text, "refused", reason)
        ctx.emit(protocol.query_result(text, error=reason))
    return record


def _tool_runner(tool_name: str, operation: str,
                 build: Callable[[ToolContext, TableInfo, dict], Statement]) -> Callable[[ToolContext, dict], str]:
    def run(ctx: ToolContext, arguments: dict) -> str:
        ctx.emit(protocol.progress(protocol.Step.QUERYING, "Querying database..."))
        try:
            table = resolve_table(ctx, arguments.get("table"), operation)
            built = build(ctx, table, arguments)
        except ToolError as exc:
            _refuse(ctx, _call_text(tool_name, arguments), str(exc))
        ctx.emit(protocol.progress(protocol.Step.EXECUTING, f"Executing: {tool_name} on {table.label}"))
        started = time.perf_counter()
        try:
            result = ctx.services.sql.run(built.query, params=built.params, role=ctx.role, claims=ctx.claims,
                                          search_path_schema=table.schema, allow_writes=operation != "SELECT",
                                          cancel=ctx.cancel)
        except QueryFailed as exc:
            _refuse(ctx, built.text, exc.reason, "failed", (time.perf_counter() - started) * 1000)
        except ExecutorUnavailable:
            log.exception("no database connection for %s", tool_name)
            _refuse(ctx, built.text, "The database is not available right now", "failed",
                    (time.perf_counter() - started) * 1000)
        summary = summarize(result)
        _audit(ctx, built.text, "executed", None, result)
        ctx.emit(protocol.query_result(built.text, summary=summary, row_count=result.row_count, data=result.rows,
                                       truncated=result.truncated))
        return model_view(result, ctx.services.settings.model_sample_rows)
    return run


# -- statements -----------------------------------------------------------------------------------

def _embed_query(text: str) -> list[float]:
    # The local model: the same embedder a knowledge base uses by default, no key, no network.
    from app.knowledge.embedders import local_embedder
    from app.knowledge.retrieval import off_hub

    return [float(x) for x in off_hub(lambda: local_embedder().embed([text]))[0]]


def _vector_terms(table: TableInfo, given: Any) -> tuple[sql.Composable, sql.Composable, list[sql.Composable]]:
    """(similarity select item, distance order term, conditions) for `vector_search`."""
    if not isinstance(given, dict):
        raise ToolError("`vector_search` must be an object {query, column, threshold}")
    unknown = sorted(set(given) - {"query", "column", "threshold"})
    if unknown:
        raise ToolError(f"`vector_search` has unknown keys: {', '.join(unknown)} (it takes query, column, threshold)")
    query = given.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ToolError("`vector_search.query` must be a non-empty string")
    if len(query) > MAX_VECTOR_QUERY:
        raise ToolError(f"`vector_search.query` may be at most {MAX_VECTOR_QUERY} characters")
    column = table.column(given.get("column"), "vector_search.column")
    if not table.is_vector(column):
        raise ToolError(f"vector_search.column: {column.name} is not a vector column of {table.label}")
    threshold = given.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not math.isfinite(threshold) or not -1 <= threshold <= 1):
        raise ToolError("`vector_search.threshold` must be a similarity between -1 and 1")
    if column.dimensions is not None and column.dimensions != LOCAL_DIMENSIONS:
        raise ToolError(f"vector_search.column: {column.name} holds {column.dimensions}-dimension vectors; "
                        f"the query embedder makes {LOCAL_DIMENSIONS}")
    vector = "[" + ",".join(f"{x:.7g}" for x in _embed_query(query.strip())) + "]"
    vs = sql.Identifier(table.vector_schema)
    embedded = sql.SQL("{}::{}.vector").format(Value(vector, shown=f"embedding({sql.Literal(query[:80]).as_string(None)})"), vs)
    distance = sql.SQL("({} OPERATOR({}.<=>) {})").format(sql.Identifier(column.name), vs, embedded)
    conditions = [] if threshold is None else [sql.SQL("{} <= {}").format(distance, Value(repr(1 - float(threshold))))]
    return sql.SQL("1 - {} AS similarity").format(distance), distance, conditions


def _query(ctx: ToolContext, table: TableInfo, arguments: dict) -> Statement:
    columns = select_list(table, arguments.get("select"))
    items = [sql.Identifier(column.name) for column in columns]
    conditions = filter_conditions(table, arguments.get("filter"))
    order = order_by(table, arguments.get("order"))
    limit, offset = limit_offset(arguments)
    if arguments.get("vector_search") is not None:
        similarity, distance, extra = _vector_terms(table, arguments["vector_search"])
        items.append(similarity)
        conditions += extra
        order = [distance, *order]   # nearest first; the given order breaks ties
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(items), table.identifier) + where_clause(conditions)
    if order:
        query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)
    query += sql.SQL(" LIMIT {}").format(Value(limit))
    if offset:
        query += sql.SQL(" OFFSET {}").format(Value(offset))
    return statement(query)


def _data_object(value: Any, where: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise ToolError(f"{where} must be a non-empty object of column: value")
    return value


def _insert(ctx: ToolContext, table: TableInfo, arguments: dict) -> Statement:
    data = arguments.get("data")
    rows = data if isinstance(data, list) else [data]
    if not rows or len(rows) > MAX_INSERT_ROWS:
        raise ToolError(f"`data` must be one object or a list of 1 to {MAX_INSERT_ROWS} objects")
    rows = [_data_object(row, "`data`") for row in rows]
    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = [table.column(name, "data") for name in names]
    if len(rows) * len(columns) > MAX_INSERT_VALUES:
        raise ToolError(f"`data` holds {len(rows)} rows of {len(columns)} columns; one call may write at most "
                        f"{MAX_INSERT_VALUES} values: split it")
    values = [sql.SQL("({})").format(sql.SQL(", ").join(
        column_value(table, column, row[column.name]) if column.name in row else sql.SQL("DEFAULT")
        for column in columns)) for row in rows]
    query = sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
        table.identifier, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns), sql.SQL(", ").join(values))
    return statement(query + returning(table, arguments.get("returning")))


def _update(ctx: ToolContext, table: TableInfo, arguments: dict) -> Statement:
    data = _data_object(arguments.get("data"), "`data`")
    sets = [sql.SQL("{} = {}").format(sql.Identifier(column.name), column_value(table, column, data[name]))
            for name in data for column in [table.column(name, "data")]]
    conditions = filter_conditions(table, arguments.get("filter"), required=True)
    query = sql.SQL("UPDATE {} SET {}").format(table.identifier, sql.SQL(", ").join(sets)) + where_clause(conditions)
    return statement(query + returning(table, arguments.get("returning")))


def _delete(ctx: ToolContext, table: TableInfo, arguments: dict) -> Statement:
    conditions = filter_conditions(table, arguments.get("filter"), required=True)
    query = sql.SQL("DELETE FROM {}").format(table.identifier) + where_clause(conditions)
    return statement(query + returning(table, arguments.get("returning")))


# -- the tools ------------------------------------------------------------------------------------

_TABLE = {"type": "string", "description": "An allowed table: name or schema.name."}
_FILTER = {"type": "object", "description": (
    'Conditions on columns, all ANDed: {"column": "op.value"}, e.g. {"status": "eq.paid", "total": "gte.20", '
    '"id": "in.(1,2,3)", "shipped_at": "is.null", "name": "ilike.*mug*"}. Operators: eq, neq, gt, gte, lt, lte, '
    'like, ilike (* is the wildcard), in, nin, is (null/true/false), cs, cd, ov (contains, contained by, overlaps). '
    'Put "not." first to negate; give a list for several conditions on one column.')}
_RETURNING = {"type": "array", "items": {"type": "string"},
              "description": 'Columns of the written rows to return, or ["*"] for all; none by default.'}
_DATA = {"type": "object", "description": "Column: value pairs."}


def _tool(name: str, description: str, properties: dict, required: list[str], scope: str, operation: str,
          build: Callable[[ToolContext, TableInfo, dict], Statement]) -> Tool:
    return Tool(name=name, description=description,
                parameters={"type": "object", "properties": properties, "required": required},
                scope=scope, run=_tool_runner(name, operation, build), on_refused=_record_refusal(name))


QUERY_TABLE = _tool(
    "query_table",
    "Read rows of one table as the current user, with column filters, ordering, a limit and an optional "
    "semantic (vector) search.",
    {"table": _TABLE,
     "select": {"type": "array", "items": {"type": "string"},
                "description": "Column names to return; all but vector columns by default."},
     "filter": _FILTER,
     "order": {"type": "string", "description": 'Comma-separated "column.desc" or "column.asc" (e.g. "created_at.desc").'},
     "limit": {"type": "integer", "description": f"Rows to return (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})."},
     "offset": {"type": "integer", "description": "Rows to skip."},
     "vector_search": {"type": "object", "description": (
         "Order by meaning: {query: text to search for, column: a vector column of the table, "
         "threshold: minimum similarity 0-1}. Adds a similarity column.")}},
    ["table"], READ_TABLES, "SELECT", _query)

INSERT_RECORD = _tool(
    "insert_record",
    "Insert one row (data is an object) or several (a list of objects) into one table as the current user.",
    {"table": _TABLE, "data": {"description": "Column: value pairs, or a list of them for several rows."},
     "returning": _RETURNING},
    ["table", "data"], WRITE_TABLES, "INSERT", _insert)

UPDATE_RECORD = _tool(
    "update_record",
    "Update the rows of one table that match a filter (required), as the current user.",
    {"table": _TABLE, "data": _DATA, "filter": _FILTER, "returning": _RETURNING},
    ["table", "data", "filter"], WRITE_TABLES, "UPDATE", _update)

DELETE_RECORD = _tool(
    "delete_record",
    "Delete the rows of one table that match a filter (required), as the current user.",
    {"table": _TABLE, "filter": _FILTER, "returning": _RETURNING},
    ["table", "filter"], WRITE_TABLES, "DELETE", _delete)

DATA_TOOLS = (QUERY_TABLE, INSERT_RECORD, UPDATE_RECORD, DELETE_RECORD)

# The write tools' statements, for the approval preview (app/approvals/preview.py): built from the
# same arguments by the same code the tool runs, so what is previewed is what runs.
_WRITE_BUILDERS = {"insert_record": ("INSERT", _insert), "update_record": ("UPDATE", _update),
                   "delete_record": ("DELETE", _delete)}


def write_statement(ctx: ToolContext, tool_name: str, arguments: dict) -> tuple[TableInfo, Statement]:
    """The table and the statement a write tool would run for these arguments (ToolError if refused)."""
    operation, build = _WRITE_BUILDERS[tool_name]
    table = resolve_table(ctx, arguments.get("table"), operation)
    return table, build(ctx, table, arguments)
