"""execute_sql: the guard decides, the executor runs as the end user, the client gets the rows,
the model gets a summary and a few samples, and every attempt is audited."""
from __future__ import annotations

import logging
import time
from typing import NoReturn

from app import protocol
from app.sql.executor import ExecutorUnavailable, QueryFailed
from app.sql.guard import AccessPolicy, SqlRefused, check_sql
from app.sql.results import model_view, summarize
from app.tools.base import Tool, ToolContext
from app.tools.sql_audit import audit_attempt as _audit
from app.tools.sql_audit import refuse_attempt

__all__ = ["EXECUTE_SQL", "MAX_SQL_LENGTH", "chatbot_access_policy"]

log = logging.getLogger(__name__)

MAX_SQL_LENGTH = 20_000


def chatbot_access_policy(config: dict) -> AccessPolicy | None:
    """What a chatbot's statements may touch; None when no operation is allowed at all (fail closed)."""
    operations = list(config.get("allowed_operations") or [])
    if not operations:
        return None
    return AccessPolicy.from_config(config.get("allowed_tables", ["*"]), config.get("allowed_schemas", ["public"]),
                                    operations)


def _refuse(ctx: ToolContext, sql: str, reason: str, verdict: str, duration_ms: float | None = None) -> NoReturn:
    # What the model sent is echoed to the client and kept in the audit: never more of it than a
    # statement may have (a list of megabyte strings was echoed whole).
    refuse_attempt(ctx, sql if len(sql) <= MAX_SQL_LENGTH else sql[:MAX_SQL_LENGTH] + "…", reason, verdict,
                   duration_ms)


def _run(ctx: ToolContext, arguments: dict) -> str:
    sql = arguments.get("sql")
    description = arguments.get("description") or "running a query"
    if not isinstance(sql, str) or not sql.strip():
        _refuse(ctx, str(sql or ""), "`sql` must be a non-empty string", "refused")
    if not isinstance(description, str):
        _refuse(ctx, sql, "`description` must be a string", "refused")
    if len(sql) > MAX_SQL_LENGTH:
        _refuse(ctx, sql[:MAX_SQL_LENGTH], f"The statement is longer than {MAX_SQL_LENGTH} characters", "refused")
    ctx.emit(protocol.progress(protocol.Step.QUERYING, "Querying database..."))
    ctx.emit(protocol.progress(protocol.Step.EXECUTING, f"Executing: {description[:200]}"))
    policy = chatbot_access_policy(ctx.chatbot_config)
    if policy is None:
        _refuse(ctx, sql, "Operation not allowed: SELECT", "refused")
    try:
        checked = check_sql(sql, policy)
    except SqlRefused as exc:
        _refuse(ctx, sql, exc.reason, "refused")
    except Exception:  # the parser choking on model text is a refusal the model and the client must see
        log.exception("the SQL guard could not check a statement")
        _refuse(ctx, sql, "Query failed: the statement could not be parsed", "refused")
    started = time.perf_counter()
    try:
        result = ctx.services.sql.run(sql, role=ctx.role, claims=ctx.claims, search_path_schema=policy.default_schema,
                                      allow_writes=checked.writes, cancel=ctx.cancel)
    except QueryFailed as exc:
        _refuse(ctx, sql, exc.reason, "failed", (time.perf_counter() - started) * 1000)
    except ExecutorUnavailable:
        log.exception("no database connection for execute_sql")
        _refuse(ctx, sql, "The database is not available right now", "failed", (time.perf_counter() - started) * 1000)
    summary = summarize(result)
    _audit(ctx, sql, "executed", None, result)
    ctx.emit(protocol.query_result(sql, summary=summary, row_count=result.row_count, data=result.rows,
                                   truncated=result.truncated))
    return model_view(result, ctx.services.settings.model_sample_rows)


EXECUTE_SQL = Tool(
    name="execute_sql",
    description="Run one SQL statement against the database as the current user and return the resulting rows.",
    parameters={
        "type": "object",
        "properties": {
            "sql": {"type": "string", "description": "A single SQL statement. Only the operations and tables "
                                                     "this assistant is allowed may be used."},
            "description": {"type": "string", "description": "A short, human-readable summary of what the "
                                                             "statement does, shown to the user."},
        },
        "required": ["sql", "description"],
    },
    # The chatbot's allowed operations and tables gate it, checked by the guard on every call.
    scope=None,
    run=_run,
)
