"""The SQL audit trail: every statement a model wrote, whether it ran, was refused or failed."""
from __future__ import annotations

from psycopg import Connection

from app.sql.results import WRITE_COMMANDS

RECORD = """
insert into ai.sql_audit (chatbot_id, conversation_id, turn_id, user_id, user_role, sql, verdict, reason,
                          row_count, duration_ms, command)
values (%(chatbot_id)s, %(conversation_id)s, %(turn_id)s, %(user_id)s, %(user_role)s, %(sql)s, %(verdict)s,
        %(reason)s, %(row_count)s, %(duration_ms)s, %(command)s)
"""

TURN_WROTE_DATA = """
select 1 from ai.sql_audit
 where turn_id = %(turn_id)s and verdict = 'executed' and command = any(%(commands)s) and row_count > 0
 limit 1
"""


def record_audit(conn: Connection, *, chatbot_id: str | None, conversation_id: str | None, turn_id: str | None,
                 user_id: str | None, user_role: str, sql: str, verdict: str, reason: str | None,
                 row_count: int | None, duration_ms: float | None, command: str | None = None) -> None:
    conn.execute(RECORD, {"chatbot_id": chatbot_id, "conversation_id": conversation_id, "turn_id": turn_id,
                          "user_id": user_id, "user_role": user_role, "sql": sql, "verdict": verdict,
                          "reason": reason, "row_count": row_count, "duration_ms": duration_ms, "command": command})


def turn_wrote_data(conn: Connection, turn_id: str) -> bool:
    """Whether a statement of this turn committed a change (a retry must not run it again)."""
    row = conn.execute(TURN_WROTE_DATA, {"turn_id": turn_id, "commands": sorted(WRITE_COMMANDS)}).fetchone()
    return row is not None
