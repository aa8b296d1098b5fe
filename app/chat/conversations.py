"""SQL for conversations and for starting their turns (the web side): constants, named parameters, rows
from app/chat/records.py. The lock order every statement keeps is explained in app/chat/turns.py.
Transactions belong to the caller unless a function says otherwise.
"""
from __future__ import annotations

import uuid

from psycopg import Connection, errors

from app.chat.lifetime import BUMP_EXPIRY, LIVE
from app.chat.records import Conversation, Turn, conversation_of, turn_of
from app.text import one_line

TITLE_LENGTH = 80


# Deadlocks cannot happen between our own statements (see the lock order above), but a caller's
# own SQL or an admin's can still cause one; such a statement is simply tried again.
_RETRIES = 3


class TurnInProgress(Exception):
    """The conversation already has a queued or running turn."""


class TurnLimitReached(Exception):
    """The conversation has had its `@fluxbase:max-turns` turns."""


class ConversationGone(Exception):
    """The conversation was deleted or has expired."""


class ChatbotGone(Exception):
    """The conversation's chatbot was disabled since the socket attached."""


# `idle_seconds`: how long it outlives its last activity (app/chat/lifetime.py); NULL, never expires.
CREATE_CONVERSATION = """
insert into ai.conversations (id, chatbot_id, user_id, user_role, persisted, idle_seconds, expires_at)
values (coalesce(%(id)s::uuid, gen_random_uuid()), %(chatbot_id)s, %(user_id)s, %(user_role)s, %(persisted)s,
        %(idle)s::bigint,
        case when %(idle)s::bigint is null then null else now() + make_interval(secs => %(idle)s::bigint) end)
returning id, chatbot_id, user_id, user_role, turn_count, title, last_seq
"""


# A year of seconds times a hundred: `conversation-ttl` may be up to 2**31 hours, which PostgreSQL's
# timestamps cannot hold added to now().
MAX_IDLE_SECONDS = 100 * 365 * 86400


# The role is part of ownership: a turn runs with the role stored on its conversation, so a token
# of another role for the same `sub` must not pick the conversation up (and run with its rights).
# `last_seq` here is the highest seq PostgreSQL knows the conversation used: the last ending's, or
# what its running turn noted since.
# A non-persisted conversation found is renewed in the same statement: its expiry may be moments
# away, and the web process's next renewal round (app/chat/keepalive.py) a third of the grace.
FIND_OWNED_CONVERSATION = f"""
with found as (
  select c.id, c.chatbot_id, c.user_id, c.user_role, c.turn_count, c.title, c.persisted,
         greatest(c.last_seq, coalesce((select max(t.published_seq) from ai.turns t
                                         where t.conversation_id = c.id and t.status in ('queued', 'running')), 0))
           as last_seq,
         (select t.assistant_message_id from ai.turns t where t.conversation_id = c.id
           order by t.created_at desc limit 1) as latest_message_id
    from ai.conversations c
   where c.id = %(id)s and c.chatbot_id = %(chatbot_id)s and c.user_id = %(user_id)s and c.user_role = %(user_role)s
     and {LIVE}
), renewed as (
  update ai.conversations c set expires_at = greatest(c.expires_at, now() + make_interval(secs => %(grace)s))
    from found where c.id = found.id and not found.persisted
  returning c.id
)
select * from found
"""


CONVERSATION_LAST_SEQ = "select last_seq from ai.conversations where id = %(id)s"


CONVERSATION_LIVE = """
select b.enabled from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id
 where c.id = %(id)s and (c.expires_at is null or c.expires_at > now())
"""


# One statement: count the turn, store the user message and queue the turn. The unique index on
# unfinished turns makes a concurrent second message fail as a whole; a conversation at its turn
# limit, expired or gone, or whose chatbot was disabled, matches no row and inserts nothing.
START_TURN = f"""
with conversation as (
  update ai.conversations c set turn_count = turn_count + 1, updated_at = now(), title = coalesce(title, %(title)s),
         {BUMP_EXPIRY}
  where c.id = %(conversation_id)s and c.turn_count < %(max_turns)s and (c.expires_at is null or c.expires_at > now())
    and exists (select 1 from ai.chatbots b where b.id = c.chatbot_id and b.enabled)
  returning c.id
), message as (
  insert into ai.messages (id, conversation_id, turn_id, role, content)
  select %(message_id)s, id, %(turn_id)s, 'user', %(content)s from conversation
  returning id, conversation_id
)
insert into ai.turns (id, conversation_id, user_message_id, assistant_message_id)
select %(turn_id)s, conversation_id, id, gen_random_uuid() from message
returning id, conversation_id, user_message_id, assistant_message_id, status, attempts
"""


# A turn that could not be handed to a worker (the broker was down): it never happened.
WITHDRAW_TURN = """
with turn as (
  delete from ai.turns where id = %(turn_id)s and status = 'queued' returning conversation_id, user_message_id
), message as (
  delete from ai.messages where id in (select user_message_id from turn)
)
update ai.conversations set turn_count = greatest(turn_count - 1, 0) where id in (select conversation_id from turn)
"""


ACTIVE_TURN = """
select id, conversation_id, user_message_id, assistant_message_id, status, attempts from ai.turns
 where conversation_id = %(conversation_id)s and status in ('queued', 'running')
"""


CANCEL_QUEUED_TURN = """
update ai.turns set status = 'cancelled', finished_at = now()
 where conversation_id = %(conversation_id)s and status = 'queued'
returning id, conversation_id, user_message_id, assistant_message_id, status, attempts
"""


def idle_seconds(*, persisted: bool, ttl_hours: int | None, grace_seconds: int) -> int | None:
    """How long a new conversation outlives its last activity: its chatbot's ttl when persisted, the
    reconnect grace when not; None (never expires) for a persisted one without a ttl."""
    if not persisted:
        return grace_seconds
    return None if ttl_hours is None else min(ttl_hours * 3600, MAX_IDLE_SECONDS)


def create_conversation(conn: Connection, *, chatbot_id: str, user_id: str | None, user_role: str,
                        ttl_hours: int | None, persisted: bool = True, grace_seconds: int = 300,
                        conversation_id: str | None = None) -> Conversation:
    idle = idle_seconds(persisted=persisted, ttl_hours=ttl_hours, grace_seconds=grace_seconds)
    row = conn.execute(CREATE_CONVERSATION, {"id": conversation_id, "chatbot_id": chatbot_id, "user_id": user_id,
                                             "user_role": user_role, "persisted": persisted,
                                             "idle": idle}).fetchone()
    return conversation_of(row)


def find_owned_conversation(conn: Connection, *, conversation_id: str, chatbot_id: str,
                            user_id: str | None, user_role: str, grace_seconds: int = 300) -> Conversation | None:
    """The conversation if it exists, is live, and belongs to this user, role and chatbot; None
    otherwise (the caller must not learn which of those failed). Anonymous callers own nothing:
    an anon token proves no identity, whatever `sub` it carries. A non-persisted one found gets
    `grace_seconds` more to live (the caller commits)."""
    if user_id is None or user_role == "anon":
        return None
    row = conn.execute(FIND_OWNED_CONVERSATION, {"id": conversation_id, "chatbot_id": chatbot_id,
                                                 "user_id": user_id, "user_role": user_role,
                                                 "grace": grace_seconds}).fetchone()
    return conversation_of(row) if row else None


def last_seq(conn: Connection, conversation_id: str) -> int:
    row = conn.execute(CONVERSATION_LAST_SEQ, {"id": conversation_id}).fetchone()
    return row["last_seq"] if row else 0


def start_turn(conn: Connection, conversation_id: str, content: str, *, max_turns: int) -> Turn:
    """Persist the user message and a queued turn, committed; raises TurnInProgress, TurnLimitReached,
    ConversationGone or ChatbotGone."""
    params = {"conversation_id": conversation_id, "content": content, "title": _title(content),
              "max_turns": max_turns, "message_id": str(uuid.uuid4()), "turn_id": str(uuid.uuid4())}
    for attempt in range(_RETRIES):
        try:
            with conn.transaction():
                row = conn.execute(START_TURN, params).fetchone()
            break
        except errors.UniqueViolation:
            raise TurnInProgress(conversation_id) from None
        except (errors.DeadlockDetected, errors.SerializationFailure):
            if attempt == _RETRIES - 1:
                raise TurnInProgress(conversation_id) from None
    if row is None:
        # Only on the refusal path: say which of the three reasons it was.
        if active_turn(conn, conversation_id) is not None:
            raise TurnInProgress(conversation_id)
        live = conn.execute(CONVERSATION_LIVE, {"id": conversation_id}).fetchone()
        if live is None:
            raise ConversationGone(conversation_id)
        if not live["enabled"]:
            raise ChatbotGone(conversation_id)
        raise TurnLimitReached(conversation_id)
    return turn_of(row)


def withdraw_turn(conn: Connection, turn: Turn) -> None:
    conn.execute(WITHDRAW_TURN, {"turn_id": turn.id})


def _title(content: str) -> str:
    line = one_line(content)
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def active_turn(conn: Connection, conversation_id: str) -> Turn | None:
    row = conn.execute(ACTIVE_TURN, {"conversation_id": conversation_id}).fetchone()
    return turn_of(row) if row else None


def cancel_queued_turn(conn: Connection, conversation_id: str) -> Turn | None:
    """Cancel a turn no worker has started yet; None when there is none (it may be running)."""
    row = conn.execute(CANCEL_QUEUED_TURN, {"conversation_id": conversation_id}).fetchone()
    return turn_of(row) if row else None
