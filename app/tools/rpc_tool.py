"""invoke_rpc: call a PostgreSQL function an admin exposed to the chatbot's namespace (ai.exposed_rpc),
with named parameters, as the end user.

The statement is composed by app/execution/exposed_rpc.py (identifiers from the catalog, values
bound) and run by the SQL executor exactly like execute_sql's: the end user's role and claims, a
read-only transaction, the timeout and the row and byte caps. So row-level security and the
function's own security apply, and the end-user role needs EXECUTE on it. The client gets a
`query_result`, the model a summary and a few rows, and every attempt is in the SQL audit.
"""
from __future__ import annotations

import logging
import time

import psycopg

from app import protocol
from app.execution.exposed_rpc import (
    NotCallable,
    build_call,
    find_exposed,
    load_signature,
)
from app.execution.namespace import NamespaceRefused, reachable_namespace
from app.sql.executor import ExecutorUnavailable, QueryFailed
from app.sql.results import model_view, summarize
from app.tools.base import Tool, ToolContext
from app.tools.scopes import EXECUTE_RPC
from app.tools.sql_audit import audit_attempt as _audit
from app.tools.sql_audit import refuse_attempt as _refuse

__all__ = ["INVOKE_RPC"]

log = logging.getLogger(__name__)


def _requested(arguments: dict) -> str:
    name = arguments.get("name")
    return f"invoke_rpc {name[:130] if isinstance(name, str) else name!r}"


def _run(ctx: ToolContext, arguments: dict) -> str:
    shown = _requested(arguments)
    try:
        with ctx.services.db.connection() as conn:
            namespace = reachable_namespace(conn, ctx.chatbot_id, arguments.get("namespace"))
            function = find_exposed(conn, namespace, arguments.get("name"))
            call = build_call(function, load_signature(conn, function), arguments.get("params"))
    except (NamespaceRefused, NotCallable) as exc:
        _refuse(ctx, shown, exc.reason)
    except psycopg.OperationalError:  # no owner connection: the allow-list cannot be read
        log.exception("no database connection for invoke_rpc's allow-list")
        _refuse(ctx, shown, "The database is not available right now", "failed")
    ctx.emit(protocol.progress(protocol.Step.EXECUTING, f"Calling {function.qualified}"))
    started = time.perf_counter()
    try:
        result = ctx.services.sql.run(call.statement, params=call.params, role=ctx.role, claims=ctx.claims,
                                      search_path_schema=function.schema, allow_writes=False, cancel=ctx.cancel)
    except QueryFailed as exc:
        _refuse(ctx, call.shown, exc.reason, "failed", (time.perf_counter() - started) * 1000)
    except ExecutorUnavailable:
        log.exception("no database connection for invoke_rpc")
        _refuse(ctx, call.shown, "The database is not available right now", "failed",
                (time.perf_counter() - started) * 1000)
    summary = summarize(result)
    _audit(ctx, call.shown, "executed", None, result)
    ctx.emit(protocol.query_result(call.shown, summary=summary, row_count=result.row_count, data=result.rows,
                                   truncated=result.truncated))
    return model_view(result, ctx.services.settings.model_sample_rows)


def _on_refused(ctx: ToolContext, arguments: dict, reason: str) -> None:
    shown = _requested(arguments)
    _audit(ctx, shown, "refused", reason)
    ctx.emit(protocol.query_result(shown, error=reason))


INVOKE_RPC = Tool(
    name="invoke_rpc",
    description=("Call a database function that the administrator exposed to this assistant, with named "
                 "parameters, as the current user, and return its rows. An unknown name is answered with the "
                 "list of exposed functions; a wrong parameter with the function's parameters."),
    parameters={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "The function's name, e.g. order_total, or schema.name."},
            "namespace": {"type": "string", "description": "Optional: this assistant's namespace (the only one "
                                                           "it can reach)."},
            "params": {"type": "object", "description": "Parameter names to values, e.g. {\"order_id\": 3}."},
        },
        "required": ["name"],
    },
    scope=EXECUTE_RPC,
    run=_run,
    on_refused=_on_refused,
)
