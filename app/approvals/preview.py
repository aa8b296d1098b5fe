"""What a call set to `ask` would do, shown to the user before they approve it.

SQL writes (execute_sql INSERT/UPDATE/DELETE, insert/update/delete_record) are really run, as the
end user, in a transaction that is rolled back: the preview is the rows the statement would
change (`RETURNING *`), their count and a capped sample. Nothing is committed; a statement that
fails here (the guard refuses it, RLS, a constraint) is not offered for approval at all: the
model reads why, as it would have from the tool. HTTP calls (http_get, invoke_function) are shown
as the exact request; other tools as their arguments. docs/approval.md describes the shapes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.stream import RawStream

from app.execution.http_functions import UnknownFunction, find_http_function
from app.execution.namespace import NamespaceRefused, reachable_namespace
from app.sql.executor import ExecutorUnavailable, QueryFailed
from app.sql.guard import SqlRefused, check_sql
from app.sql.pretty import pretty_sql
from app.tools.base import ToolContext, ToolError
from app.tools.sql_tool import chatbot_access_policy
from app.tools.table_tools import write_statement

__all__ = ["MAX_PREVIEW_BYTES", "MAX_PREVIEW_ROWS", "MAX_PREVIEW_VALUE_CHARS", "NotPreviewable", "Preview", "preview_call", "sql_operation"]

log = logging.getLogger(__name__)

MAX_PREVIEW_ROWS = 20
MAX_PREVIEW_BYTES = 64 * 1024
# A longer value is cut: one huge text would otherwise fill the byte cap and leave the sample empty.
MAX_PREVIEW_VALUE_CHARS = 2_000
_SECRET_HEADER = ("authorization", "cookie", "token", "key", "secret", "password", "session")
_TABLE_TOOLS = frozenset({"insert_record", "update_record", "delete_record"})


class NotPreviewable(Exception):
    """The call would fail anyway: `reason` is for the model. `refused`: the tool's own checks refuse
    it before it touches anything (it may run, to refuse and audit it as it always does); otherwise
    it failed when tried, and must not run without approval."""

    def __init__(self, reason: str, *, refused: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True)
class Preview:
    description: str
    statement: str | None      # the exact statement that runs once approved (SQL tools)
    sql: str | None            # the statement laid out for reading
    data: dict[str, Any]       # the `preview` field of approval_required


def sql_operation(ctx: ToolContext, arguments: dict) -> str | None:
    """execute_sql's statement kind as the guard reads it; None when the guard refuses it (the tool
    then refuses it itself, audited, as it always did)."""
    policy = chatbot_access_policy(ctx.chatbot_config)
    sql = arguments.get("sql")
    if policy is None or not isinstance(sql, str):
        return None
    try:
        return check_sql(sql, policy).operation
    except SqlRefused:
        return None
    except Exception:  # the parser choking is the tool's refusal to report
        return None


def preview_call(ctx: ToolContext, tool: str, arguments: dict) -> Preview:
    if tool == "execute_sql":
        return _execute_sql(ctx, arguments)
    if tool in _TABLE_TOOLS:
        return _table_write(ctx, tool, arguments)
    if tool == "http_get":
        return _http_get(arguments)
    if tool == "invoke_function":
        return _invoke_function(ctx, arguments)
    return Preview(description=f"{tool} with these arguments", statement=None, sql=None,
                   data={"kind": "call", "arguments": _capped_json(arguments)})


# -- SQL ------------------------------------------------------------------------------------------

def _execute_sql(ctx: ToolContext, arguments: dict) -> Preview:
    sql = arguments["sql"]
    policy = chatbot_access_policy(ctx.chatbot_config)
    if policy is None:
        raise NotPreviewable("Operation not allowed")
    try:
        checked = check_sql(sql, policy)
        shown = _returning_all(sql) if checked.writes else sql
        # The variant with RETURNING * is checked again: it is a different text, whatever it was made from.
        check_sql(shown, policy)
    except SqlRefused as exc:
        raise NotPreviewable(exc.reason) from None
    result = _rolled_back(ctx, shown, None, policy.default_schema)
    description = arguments.get("description") if isinstance(arguments.get("description"), str) else None
    return Preview(description=(description or f"{checked.operation} statement")[:500], statement=sql,
                   sql=pretty_sql(sql), data=_rows_preview(checked.operation, result))


def _returning_all(sql: str) -> str:
    """The statement with `RETURNING *` when it returns nothing, so the preview shows the rows it
    changes; a statement with its own RETURNING is previewed as it is."""
    stmt = parse_sql(sql)[0].stmt
    if getattr(stmt, "returningClause", None) is None:
        stmt.returningClause = ast.ReturningClause(exprs=(ast.ResTarget(val=ast.ColumnRef(fields=(ast.A_Star(),))),))
    return RawStream()(stmt)


def _table_write(ctx: ToolContext, tool: str, arguments: dict) -> Preview:
    try:
        table, built = write_statement(ctx, tool, arguments)
        _table, shown = write_statement(ctx, tool, {**arguments, "returning": ["*"]})
    except ToolError as exc:
        raise NotPreviewable(str(exc), refused=True) from None
    result = _rolled_back(ctx, shown.query, shown.params, table.schema)
    operation = {"insert_record": "INSERT", "update_record": "UPDATE", "delete_record": "DELETE"}[tool]
    return Preview(description=f"{tool} on {table.label}", statement=built.text, sql=pretty_sql(built.text),
                   data=_rows_preview(operation, result))


def _rolled_back(ctx: ToolContext, query: Any, params: list | None, schema: str):
    try:
        return ctx.services.sql.run(query, params=params, role=ctx.role, claims=ctx.claims, search_path_schema=schema,
                                    allow_writes=True, commit=False, cancel=ctx.cancel)
    except QueryFailed as exc:
        raise NotPreviewable(exc.reason) from None
    except ExecutorUnavailable:
        log.exception("no database connection for an approval preview")
        raise NotPreviewable("The database is not available right now") from None


def _rows_preview(operation: str, result) -> dict[str, Any]:
    rows, size = [], 2
    for row in result.rows[:MAX_PREVIEW_ROWS]:
        row = {name: _clipped(value) for name, value in row.items()}
        size += len(json.dumps(row, ensure_ascii=False, default=str)) + 1
        if size > MAX_PREVIEW_BYTES:
            break
        rows.append(row)
    return {"kind": "sql", "operation": operation, "row_count": result.row_count, "columns": list(result.columns),
            "rows": rows, "truncated": len(rows) < result.row_count}


def _clipped(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str)
        return value if len(text) <= MAX_PREVIEW_VALUE_CHARS else text[:MAX_PREVIEW_VALUE_CHARS] + "…"
    if isinstance(value, str) and len(value) > MAX_PREVIEW_VALUE_CHARS:
        return value[:MAX_PREVIEW_VALUE_CHARS] + "…"
    return value


# -- HTTP -----------------------------------------------------------------------------------------

def _masked(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict):
        return {}
    out = {}
    for name, value in list(headers.items())[:20]:
        text = str(value)[:500]
        # A secret placeholder ({{secret:KEY}}) is shown as it is: the value is filled in only when sent.
        if any(word in str(name).lower() for word in _SECRET_HEADER) and "{{secret:" not in text:
            text = "***"
        out[str(name)[:100]] = text
    return out


def _http_get(arguments: dict) -> Preview:
    url = str(arguments.get("url") or "")[:2048]
    params = arguments.get("params") if isinstance(arguments.get("params"), dict) else {}
    return Preview(description=f"GET {url}"[:500], statement=None, sql=None,
                   data={"kind": "request", "method": "GET", "url": url,
                         "params": {str(k)[:100]: str(v)[:500] for k, v in list(params.items())[:50]},
                         "headers": _masked(arguments.get("headers")), "body": None})


def _invoke_function(ctx: ToolContext, arguments: dict) -> Preview:
    try:
        with ctx.services.db.connection() as conn:
            namespace = reachable_namespace(conn, ctx.chatbot_id, arguments.get("namespace"))
            function = find_http_function(conn, namespace, arguments.get("name"))
    except (NamespaceRefused, UnknownFunction) as exc:
        raise NotPreviewable(exc.reason, refused=True) from None
    method = arguments.get("method")
    method = method.upper() if isinstance(method, str) and method.strip() else \
        ("POST" if "POST" in function.methods or len(function.methods) != 1 else function.methods[0])
    body = arguments.get("body")
    return Preview(description=f"{method} {function.name}", statement=None, sql=None,
                   data={"kind": "request", "method": method, "url": function.url, "function": function.name,
                         "headers": _masked(arguments.get("headers")),
                         "body": None if body is None else _capped_json(body)})


def _capped_json(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= MAX_PREVIEW_BYTES else text[:MAX_PREVIEW_BYTES] + "…"
