"""What every SQL-running tool does with an attempt: one audit row, and on a refusal the same error
to the client (as a `query_result`) and to the model (as a ToolError).

execute_sql, the table tools and invoke_rpc all run SQL as the end user; their attempts share one
audit trail (app/sql/audit.py), whatever the tool, so an admin reads them in one place.
"""
from __future__ import annotations

import logging
from typing import NoReturn

from app import protocol
from app.sql.audit import record_audit
from app.sql.results import QueryResult
from app.tools.base import ToolContext, ToolError

__all__ = ["audit_attempt", "refuse_attempt"]

log = logging.getLogger(__name__)


def audit_attempt(ctx: ToolContext, shown: str, verdict: str, reason: str | None,
                  result: QueryResult | None = None, duration_ms: float | None = None) -> None:
    """Record one attempt; a failure to record is logged loudly and never hides the answer."""
    try:
        with ctx.services.db.connection() as conn:
            record_audit(conn, chatbot_id=ctx.chatbot_id, conversation_id=ctx.conversation_id, turn_id=ctx.turn_id,
                         user_id=ctx.user_id, user_role=ctx.role, sql=shown, verdict=verdict, reason=reason,
                         row_count=result.row_count if result else None,
                         duration_ms=result.duration_ms if result else duration_ms,
                         command=result.command if result else None)
    except Exception:  # auditing must not hide the answer, but it must be loud
        log.exception("could not record the SQL audit entry")


def refuse_attempt(ctx: ToolContext, shown: str, reason: str, verdict: str = "refused",
                   duration_ms: float | None = None) -> NoReturn:
    """Audit the attempt, tell the client, and give the model the reason."""
    audit_attempt(ctx, shown, verdict, reason, duration_ms=duration_ms)
    ctx.emit(protocol.query_result(shown, error=reason))
    raise ToolError(reason)
