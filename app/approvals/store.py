"""SQL for ai.approvals (migration 0018): open one, answer it, expire it, claim its single run.

Every change is guarded by the row's status in the same statement, so two answers, an answer
racing the expiry, or two attempts of one turn cannot both win. Transactions are the caller's.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.types.json import Jsonb

__all__ = ["Answered", "Approval", "answer", "claim_run", "create", "expire", "expire_turn", "get"]

PENDING, APPROVED, DENIED, EXPIRED = "pending", "approved", "denied", "expired"


@dataclass(frozen=True)
class Approval:
    id: str
    conversation_id: str
    turn_id: str
    tool: str
    arguments: dict
    statement: str | None
    status: str
    reason: str | None
    expires_at: datetime
    executed_at: datetime | None


_COLUMNS = ("id::text, conversation_id::text, turn_id::text, tool, arguments, statement, status, reason, "
            "expires_at, executed_at")


def _approval(row: Any) -> Approval | None:
    if row is None:
        return None
    values = row.values() if isinstance(row, dict) else row
    return Approval(*values)


def create(conn: Connection, *, conversation_id: str, turn_id: str, tool: str, arguments: dict,
           statement: str | None, preview: dict | None, expires_in_seconds: float) -> Approval:
    row = conn.execute(
        f"""insert into ai.approvals (conversation_id, turn_id, tool, arguments, statement, preview, expires_at)
            values (%s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s))
            returning {_COLUMNS}""",
        (conversation_id, turn_id, tool, Jsonb(arguments), statement, Jsonb(preview) if preview is not None else None,
         expires_in_seconds)).fetchone()
    return _approval(row)


def get(conn: Connection, approval_id: str) -> Approval | None:
    return _approval(conn.execute(f"select {_COLUMNS} from ai.approvals where id = %s", (approval_id,)).fetchone())


class Answered(Exception):
    """Why an answer was not recorded: `not_found` (unknown, or not this user's) or `closed`."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


# The conversation's owner only: the same user id (an anonymous conversation: no user id, and the
# caller's socket must have the conversation started on it, which the session checks first).
_ANSWER = f"""
update ai.approvals a
   set status = %(status)s, decided_by = %(user_id)s, reason = %(reason)s, decided_at = now()
  from ai.conversations c
 where a.id = %(id)s and c.id = a.conversation_id and c.user_id is not distinct from %(user_id)s::uuid
   and a.status = 'pending' and a.expires_at > now()
returning {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}
"""

_OWNED = """
select a.status from ai.approvals a join ai.conversations c on c.id = a.conversation_id
 where a.id = %(id)s and c.user_id is not distinct from %(user_id)s::uuid
"""


def answer(conn: Connection, approval_id: str, *, approved: bool, user_id: str | None,
           reason: str | None = None) -> Approval:
    """Record the owner's decision; Answered('not_found' | 'closed') when it cannot be recorded."""
    params = {"id": approval_id, "user_id": user_id, "reason": reason, "status": APPROVED if approved else DENIED}
    row = conn.execute(_ANSWER, params).fetchone()
    if row is not None:
        return _approval(row)
    owned = conn.execute(_OWNED, params).fetchone()
    raise Answered("not_found" if owned is None else "closed")


def expire(conn: Connection, approval_id: str) -> Approval | None:
    """Close a pending approval as expired; None when it was decided first (read it again)."""
    return _approval(conn.execute(
        f"""update ai.approvals set status = 'expired', decided_at = now()
             where id = %s and status = 'pending' returning {_COLUMNS}""", (approval_id,)).fetchone())


def expire_turn(conn: Connection, turn_id: str) -> list[str]:
    """Expire what an earlier attempt of this turn left pending (its worker died while waiting);
    returns their ids."""
    rows = conn.execute("""update ai.approvals set status = 'expired', decided_at = now()
                            where turn_id = %s and status = 'pending' returning id""", (turn_id,)).fetchall()
    return [str(row["id"] if isinstance(row, dict) else row[0]) for row in rows]


def claim_run(conn: Connection, approval_id: str) -> bool:
    """Take the one run an approved call has; False when it is not approved or already ran."""
    return conn.execute("""update ai.approvals set executed_at = now()
                            where id = %s and status = 'approved' and executed_at is null""",
                        (approval_id,)).rowcount == 1
