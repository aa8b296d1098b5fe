"""How long conversations live: SQL for their expiry (docs/conversations.md, "Lifecycle").

A persisted conversation (`@fluxbase:persist-conversations`) lives until `conversation-ttl` after
its last message: starting a turn and closing one push `expires_at` to now + `idle_seconds`
(app/chat/conversations.py START_TURN, app/chat/turns.py LOCK_CONVERSATION), in statements that run
anyway. A non-persisted one lives while a socket holds it: every web process renews the expiry of
the conversations its sockets hold, in one statement per round (app/chat/keepalive.py), and a
socket letting go of one sets it to now + the grace. A web process that dies renews nothing, so its
conversations run out within the grace.

A conversation with a queued or running turn is live whatever its expiry says, and is never
deleted under its turn; the turn's end pushes the expiry on, so a client that lost its socket mid-
turn can still come back for the answer within the grace.

Expired conversations read as absent at once (every read uses LIVE); the expiry job
(workers/expiry.py) deletes them in batches, their turns and messages with them (ON DELETE CASCADE).
Transactions belong to the caller unless a function says otherwise.
"""
from __future__ import annotations

from collections.abc import Collection

from psycopg import Connection

# Whether the conversation `c` still exists for its users. The unfinished-turn test is an index
# probe (turns_one_active), and it is only reached for a row whose expiry has passed.
LIVE = """(c.expires_at is null or c.expires_at > now()
      or exists (select 1 from ai.turns live_turn where live_turn.conversation_id = c.id
                  and live_turn.status in ('queued', 'running')))"""


# A turn starting or closing pushes its conversation's expiry to idle_seconds from now, never back
# (a socket's hold may have set a later one). A SET clause for the statements a turn runs anyway
# (the conversation must be aliased `c`), so the lifecycle costs no round trip of its own.
BUMP_EXPIRY = ("expires_at = case when c.idle_seconds is null then c.expires_at "
               "else greatest(c.expires_at, now() + make_interval(secs => c.idle_seconds)) end")


# The expiry a socket's hold gives a non-persisted conversation: never shortened (a turn's end
# may have set a later one), never given to a persisted one (their clock is their last message),
# and never to one that has expired already: expired is final, even under an open socket (it can
# only happen when this process could not renew for a whole grace, or an admin moved the clock).
RENEW_HELD = f"""
update ai.conversations c set expires_at = greatest(c.expires_at, now() + make_interval(secs => %(grace)s))
 where c.id = any(%(ids)s::uuid[]) and not c.persisted and {LIVE}
"""


# Oldest expiry first, a bounded batch, rows someone holds skipped (a turn starting or closing
# locks its conversation first, app/chat/turns.py): those are not idle anyway. Deleting the
# conversation deletes its turns and messages (ON DELETE CASCADE).
DELETE_EXPIRED = """
with doomed as (
  select c.id from ai.conversations c
   where c.expires_at <= now()
     and not exists (select 1 from ai.turns t where t.conversation_id = c.id and t.status in ('queued', 'running'))
   order by c.expires_at
   limit %(limit)s
   for update of c skip locked
)
delete from ai.conversations c using doomed where c.id = doomed.id
returning c.id
"""


def renew_held(conn: Connection, conversation_ids: Collection[str], *, grace_seconds: int) -> int:
    """Push the expiry of these conversations (the non-persisted ones among them) to now + grace;
    returns how many were renewed."""
    if not conversation_ids:
        return 0
    return conn.execute(RENEW_HELD, {"ids": list(conversation_ids), "grace": grace_seconds}).rowcount


def delete_expired(conn: Connection, *, limit: int) -> list[str]:
    """Delete up to `limit` expired conversations that have no unfinished turn; their ids."""
    return [str(row["id"] if isinstance(row, dict) else row[0])
            for row in conn.execute(DELETE_EXPIRED, {"limit": limit}).fetchall()]
