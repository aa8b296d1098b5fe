"""Reading the SQL audit trail (the admin side); app/sql/audit.py writes it.

Entries come newest first with their chatbot's namespace and name while the chatbot exists
(the audit keeps its rows, and the chatbot id, after the chatbot is deleted).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from app.db.filters import where_clause

VERDICTS = ("executed", "refused", "failed")

# Each filter's condition; `where` joins those given. Only these constants ever become SQL text.
_CONDITIONS = {
    "chatbot_id": "a.chatbot_id = %(chatbot_id)s",
    "conversation_id": "a.conversation_id = %(conversation_id)s",
    "user_id": "a.user_id = %(user_id)s",
    "anonymous": "a.user_id is null",
    "verdicts": "a.verdict = any(%(verdicts)s::text[])",
    "since": "a.created_at >= %(since)s",
    "before": "a.created_at < %(before)s",
}

ENTRIES = """
select a.id, a.created_at, a.chatbot_id, b.namespace, b.name as chatbot, a.conversation_id, a.turn_id, a.user_id,
       a.user_role, a.sql, a.command, a.verdict, a.reason, a.row_count, a.duration_ms
  from ai.sql_audit a
  left join ai.chatbots b on b.id = a.chatbot_id
 {where}
 order by a.created_at desc, a.id desc
 limit %(limit)s offset %(offset)s
"""

COUNT = "select count(*) as n from ai.sql_audit a {where}"


@dataclass(frozen=True)
class AuditFilter:
    chatbot_id: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    anonymous: bool = False                  # only statements of callers without a user id
    verdicts: tuple[str, ...] | None = None
    since: datetime | None = None            # inclusive
    before: datetime | None = None           # exclusive

    def params(self) -> dict[str, Any]:
        params = {key: getattr(self, key) for key in _CONDITIONS if getattr(self, key) not in (None, False)}
        if "verdicts" in params:
            params["verdicts"] = list(params["verdicts"])
        return params


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    chatbot_id: str | None
    namespace: str | None
    chatbot: str | None
    conversation_id: str | None
    turn_id: str | None
    user_id: str | None
    user_role: str
    sql: str
    command: str | None
    verdict: str
    reason: str | None
    row_count: int | None
    duration_ms: float | None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int    # every entry the filter matches


def audit_page(conn: Connection, where: AuditFilter, *, limit: int, offset: int = 0) -> AuditPage:
    params = where.params()
    clause = where_clause(_CONDITIONS, params)
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(COUNT.format(where=clause), params).fetchone()["n"]
        rows = cur.execute(ENTRIES.format(where=clause), {**params, "limit": limit, "offset": offset}).fetchall()
    return AuditPage([_entry(row) for row in rows], total)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(row["id"], row["created_at"], _text(row["chatbot_id"]), row["namespace"], row["chatbot"],
                      _text(row["conversation_id"]), _text(row["turn_id"]), _text(row["user_id"]), row["user_role"],
                      row["sql"], row["command"], row["verdict"], row["reason"], row["row_count"], row["duration_ms"])
