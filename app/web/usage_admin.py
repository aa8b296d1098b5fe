"""Admin usage and SQL audit endpoints; every route needs an admin caller (the service key or an admin JWT).

    GET /api/v1/admin/ai/usage?chatbot=&namespace=&chatbot_id=&user_id=&since=&until=&limit=&offset=
        {usage: [row], totals, total, has_more, limit, offset, since, until}
    GET /api/v1/admin/ai/audit?chatbot_id=&conversation_id=&user_id=&verdict=&success=&since=&until=&limit=&offset=
        {entries: [entry], total, total_count, has_more, limit, offset}

`user_id` is a UUID or `anonymous`. `since`/`until` are inclusive: a day (YYYY-MM-DD, UTC) or an
ISO 8601 timestamp (usage is kept per UTC day, so there a timestamp stands for its day). Unknown,
repeated or malformed parameters are 400 INVALID_REQUEST with `field`. docs/admin.md documents
the shapes; audit entries carry `sql_pretty` (the statement laid out for reading) and the field names of Fluxbase's admin client (AuditLogEntry).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from app.chat import usage
from app.chatbots.spec import is_valid_name
from app.sql import audit_log
from app.sql.pretty import pretty_many
from app.web.auth import require_admin
from app.web.context import web_context
from app.web.query_params import QueryParams, invalid

bp = Blueprint("usage_admin", __name__, url_prefix="/api/v1/admin/ai")

_USAGE_PARAMS = ("chatbot", "namespace", "chatbot_id", "user_id", "since", "until", "limit", "offset")
_AUDIT_PARAMS = ("chatbot_id", "conversation_id", "user_id", "verdict", "success", "since", "until", "limit",
                 "offset")


@bp.before_request
def _admins_only() -> None:
    require_admin()


def _name(params: QueryParams, key: str) -> str | None:
    value = params.text(key)
    if value is not None and not is_valid_name(value):
        raise invalid(key, "must be a chatbot name or namespace (lower-case letters, digits, '-' and '_')")
    return value


def _usage_row(row: usage.UsageRow) -> dict[str, Any]:
    return {"day": row.day.isoformat(), "chatbot_id": row.chatbot_id, "chatbot": row.chatbot,
            "namespace": row.namespace, "user_id": row.user_id, "requests": row.requests,
            "prompt_tokens": row.prompt_tokens, "completion_tokens": row.completion_tokens,
            "total_tokens": row.total_tokens, "estimated": row.estimated_requests > 0,
            "estimated_requests": row.estimated_requests, "cancelled": row.cancelled, "errors": row.errors,
            "updated_at": row.updated_at.isoformat()}


def _totals(totals: usage.UsageTotals) -> dict[str, Any]:
    return {"requests": totals.requests, "prompt_tokens": totals.prompt_tokens,
            "completion_tokens": totals.completion_tokens, "total_tokens": totals.total_tokens,
            "estimated_requests": totals.estimated_requests, "cancelled": totals.cancelled, "errors": totals.errors}


@bp.get("/usage")
def usage_list():
    params = QueryParams(request.args, _USAGE_PARAMS)
    since, until = params.span()
    where = usage.UsageFilter(chatbot_id=params.uuid("chatbot_id"), namespace=_name(params, "namespace"),
                              chatbot=_name(params, "chatbot"), user_key=params.user(),
                              since=since and since.day, until=until and until.day)
    limit, offset = params.page()
    with web_context().runtime.db.connection() as conn:
        report = usage.usage_report(conn, where, limit=limit, offset=offset)
    return {"usage": [_usage_row(row) for row in report.rows], "totals": _totals(report.totals),
            "total": report.totals.rows, "has_more": offset + len(report.rows) < report.totals.rows,
            "limit": limit, "offset": offset, "since": where.since and where.since.isoformat(),
            "until": where.until and where.until.isoformat()}


def _audit_entry(entry: audit_log.AuditEntry, sql_pretty: str) -> dict[str, Any]:
    ran = entry.verdict != "refused"
    duration = None if entry.duration_ms is None else round(entry.duration_ms, 3)
    return {
        "id": str(entry.id), "created_at": entry.created_at.isoformat(), "chatbot_id": entry.chatbot_id,
        "chatbot": entry.chatbot, "namespace": entry.namespace, "conversation_id": entry.conversation_id,
        "turn_id": entry.turn_id, "user_id": entry.user_id, "user_role": entry.user_role, "sql": entry.sql,
        # For people to read; `sql` stays the exact statement that was checked and run.
        "sql_pretty": sql_pretty,
        "command": entry.command, "verdict": entry.verdict, "reason": entry.reason, "row_count": entry.row_count,
        "duration_ms": duration,
        # Fluxbase's names for the same facts (its admin client's AuditLogEntry).
        "chatbot_name": entry.chatbot, "generated_sql": entry.sql, "executed": ran, "validation_passed": ran,
        "success": entry.verdict == "executed", "error_message": entry.reason, "rows_returned": entry.row_count,
        "execution_duration_ms": None if duration is None else round(duration),
    }


def _verdicts(params: QueryParams) -> tuple[str, ...] | None:
    verdicts = params.choice("verdict", audit_log.VERDICTS)
    success = params.flag("success")
    if success is None:
        return verdicts
    # Fluxbase's filter: success=true is what ran without error, false everything else.
    wanted = ("executed",) if success else ("refused", "failed")
    return tuple(v for v in verdicts if v in wanted) if verdicts else wanted


@bp.get("/audit")
def audit_list():
    params = QueryParams(request.args, _AUDIT_PARAMS)
    since, until = params.span()
    user = params.user()
    where = audit_log.AuditFilter(
        chatbot_id=params.uuid("chatbot_id"), conversation_id=params.uuid("conversation_id"),
        user_id=None if user == usage.ANONYMOUS else user, anonymous=user == usage.ANONYMOUS,
        verdicts=_verdicts(params), since=since and since.at, before=until and until.end())
    limit, offset = params.page()
    with web_context().runtime.db.connection() as conn:
        page = audit_log.audit_page(conn, where, limit=limit, offset=offset)
    pretty = pretty_many(entry.sql for entry in page.entries)
    return {"entries": [_audit_entry(entry, sql) for entry, sql in zip(page.entries, pretty)], "total": page.total,
            "total_count": page.total, "has_more": offset + len(page.entries) < page.total,
            "limit": limit, "offset": offset}
