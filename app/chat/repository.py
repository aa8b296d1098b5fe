"""SQL for conversations, turns and messages (owner connection, dict rows)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, errors

TITLE_LENGTH = 80


class TurnInProgress(Exception):
    """The conversation already has a queued or running turn."""


class TurnLimitReached(Exception):
    """The conversation has had its `@fluxbase:max-turns` turns."""


class ConversationGone(Exception):
    """The conversation was deleted or has expired."""


@dataclass(frozen=True)
class Conversation:
    id: str
    chatbot_id: str
    user_id: str | None
    user_role: str
    turn_count: int
    title: str | None
    last_seq: int = 0


@dataclass(frozen=True)
class Turn:
    id: str
    conversation_id: str
    user_message_id: str
    assistant_message_id: str
    status: str
    attempts: int


def _conversation(row: dict) -> Conversation:
    return Conversation(str(row["id"]), str(row["chatbot_id"]), row["user_id"] and str(row["user_id"]),
                        row["user_role"], row["turn_count"], row["title"], row["last_seq"])


def create_conversation(conn: Connection, *, chatbot_id: str, user_id: str | None, user_role: str,
                        ttl_hours: int | None) -> Conversation:
    row = conn.execute(
        """insert into ai.conversations (chatbot_id, user_id, user_role, expires_at)
           values (%s, %s, %s, case when %s::int is null then null else now() + make_interval(hours => %s::int) end)
           returning *""", (chatbot_id, user_id, user_role, ttl_hours, ttl_hours)).fetchone()
    return _conversation(row)


def find_owned_conversation(conn: Connection, *, conversation_id: str, chatbot_id: str,
                            user_id: str | None) -> Conversation | None:
    """The conversation if it exists, is live, and belongs to this user and chatbot; None otherwise
    (the caller must not learn which of those failed)."""
    if user_id is None:
        return None
    row = conn.execute(
        """select * from ai.conversations
           where id = %s and chatbot_id = %s and user_id = %s and (expires_at is null or expires_at > now())""",
        (conversation_id, chatbot_id, user_id)).fetchone()
    return _conversation(row) if row else None


# One statement: count the turn, store the user message and queue the turn. The unique index on
# unfinished turns makes a concurrent second message fail as a whole; a conversation at its turn
# limit (or gone) matches no row and inserts nothing.
_START_TURN = """
with conversation as (
  update ai.conversations set turn_count = turn_count + 1, updated_at = now(), title = coalesce(title, %(title)s)
  where id = %(conversation_id)s and turn_count < %(max_turns)s
  returning id
), message as (
  insert into ai.messages (id, conversation_id, turn_id, role, content)
  select %(message_id)s, id, %(turn_id)s, 'user', %(content)s from conversation
  returning id, conversation_id
)
insert into ai.turns (id, conversation_id, user_message_id, assistant_message_id)
select %(turn_id)s, conversation_id, id, gen_random_uuid() from message
returning *
"""


def start_turn(conn: Connection, conversation_id: str, content: str, *, max_turns: int) -> Turn:
    """Persist the user message and a queued turn; raises TurnInProgress or TurnLimitReached."""
    params = {"conversation_id": conversation_id, "content": content, "title": _title(content),
              "max_turns": max_turns, "message_id": str(uuid.uuid4()), "turn_id": str(uuid.uuid4())}
    try:
        with conn.transaction():
            row = conn.execute(_START_TURN, params).fetchone()
    except errors.UniqueViolation:
        raise TurnInProgress(conversation_id) from None
    if row is None:
        # Only on the refusal path: say which of the three reasons it was.
        if active_turn(conn, conversation_id) is not None:
            raise TurnInProgress(conversation_id)
        live = conn.execute("select 1 from ai.conversations where id = %s and (expires_at is null or expires_at > now())",
                            (conversation_id,)).fetchone()
        if live is None:
            raise ConversationGone(conversation_id)
        raise TurnLimitReached(conversation_id)
    return _turn(row)


def _title(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _turn(row: dict) -> Turn:
    return Turn(str(row["id"]), str(row["conversation_id"]), str(row["user_message_id"]),
                str(row["assistant_message_id"]), row["status"], row["attempts"])


def active_turn(conn: Connection, conversation_id: str) -> Turn | None:
    row = conn.execute("select * from ai.turns where conversation_id = %s and status in ('queued', 'running')",
                       (conversation_id,)).fetchone()
    return _turn(row) if row else None


@dataclass(frozen=True)
class TurnContext:
    """A started attempt and what it needs from its conversation."""

    turn: Turn
    conversation: Conversation
    user_content: str


# Mark the turn running for one more attempt and read its conversation and user message, in one
# round trip. A retried attempt (attempts > 0) gets a fresh assistant message id, so clients can
# tell its deltas from the lost attempt's partial text.
_BEGIN_ATTEMPT = """
with turn as (
  update ai.turns set status = 'running', attempts = attempts + 1, started_at = now(),
         assistant_message_id = case when attempts > 0 then gen_random_uuid() else assistant_message_id end
  where id = %s and status in ('queued', 'running')
  returning *
)
select turn.*, c.chatbot_id, c.user_id, c.user_role, c.turn_count, c.title, c.last_seq,
       m.content as user_content
from turn
join ai.conversations c on c.id = turn.conversation_id
join ai.messages m on m.id = turn.user_message_id
"""


def begin_attempt(conn: Connection, turn_id: str) -> TurnContext | None:
    """None when the turn does not exist or is already finished."""
    row = conn.execute(_BEGIN_ATTEMPT, (turn_id,)).fetchone()
    if row is None:
        return None
    conversation = Conversation(str(row["conversation_id"]), str(row["chatbot_id"]),
                                row["user_id"] and str(row["user_id"]), row["user_role"], row["turn_count"],
                                row["title"], row["last_seq"])
    return TurnContext(_turn(row), conversation, row["user_content"])


def finish_turn(conn: Connection, turn: Turn, *, status: str, error_code: str | None, prompt_tokens: int,
                completion_tokens: int) -> bool:
    """Close the turn; False when another attempt closed it first (the caller then publishes nothing)."""
    row = conn.execute(
        """update ai.turns set status = %s, error_code = %s, prompt_tokens = %s, completion_tokens = %s,
                  finished_at = now()
           where id = %s and status in ('queued', 'running') and assistant_message_id = %s returning id""",
        (status, error_code, prompt_tokens, completion_tokens, turn.id, turn.assistant_message_id)).fetchone()
    return row is not None


def add_message(conn: Connection, *, conversation_id: str, turn_id: str, role: str, content: str = "",
                message_id: str | None = None, tool_calls: list | None = None, tool_call_id: str | None = None,
                tool_name: str | None = None, status: str = "complete", prompt_tokens: int | None = None,
                completion_tokens: int | None = None) -> None:
    conn.execute(
        """insert into ai.messages (id, conversation_id, turn_id, role, content, tool_calls, tool_call_id, tool_name,
                                    status, prompt_tokens, completion_tokens)
           values (coalesce(%s, gen_random_uuid()), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (message_id, conversation_id, turn_id, role, content, json.dumps(tool_calls) if tool_calls else None,
         tool_call_id, tool_name, status, prompt_tokens, completion_tokens))


def history(conn: Connection, conversation_id: str, *, before_turn: str) -> list[dict]:
    """Messages of earlier turns, oldest first, for the prompt (the current user message is added by the caller).

    Failed and cancelled turns are included: their tool calls happened (a write may have been made)
    and the model must know. Tool calls are stored together with their results, so the pairs the
    provider requires are always complete.
    """
    return conn.execute(
        """select m.role, m.content, m.tool_calls, m.tool_call_id, m.tool_name, m.status
           from ai.messages m
           where m.conversation_id = %s and m.turn_id is distinct from %s
           order by m.ordinal""", (conversation_id, before_turn)).fetchall()


def unfinished_turns(conn: Connection, *, running_idle_seconds: int, queued_idle_seconds: int) -> list[dict]:
    """Turns that may have been abandoned: running past a few lock leases, or queued for long."""
    return conn.execute(
        """select id, conversation_id, assistant_message_id, attempts from ai.turns
           where (status = 'running' and started_at < now() - make_interval(secs => %s))
              or (status = 'queued' and created_at < now() - make_interval(secs => %s))""",
        (running_idle_seconds, queued_idle_seconds)).fetchall()


def abandon_turn(conn: Connection, turn_id: str) -> bool:
    row = conn.execute(
        """update ai.turns set status = 'error', error_code = 'INTERNAL_ERROR', finished_at = now()
           where id = %s and status in ('queued', 'running') returning id""", (turn_id,)).fetchone()
    return row is not None


def touch(conn: Connection, conversation_id: str, when: datetime | None = None) -> None:
    conn.execute("update ai.conversations set updated_at = coalesce(%s, now()) where id = %s", (when, conversation_id))


def record_last_seq(conn: Connection, conversation_id: str, seq: int) -> None:
    conn.execute("update ai.conversations set last_seq = greatest(last_seq, %s) where id = %s", (seq, conversation_id))


def finished_turn(conn: Connection, turn_id: str) -> dict | None:
    """A closed turn's ending, for re-publishing it when its first publish was lost."""
    return conn.execute(
        """select id, conversation_id, assistant_message_id, status, error_code, prompt_tokens, completion_tokens
           from ai.turns t where id = %s and status in ('done', 'cancelled', 'error')
             and not exists (select 1 from ai.turns later
                             where later.conversation_id = t.conversation_id and later.created_at > t.created_at)""",
        (turn_id,)).fetchone()


def cancel_queued_turn(conn: Connection, conversation_id: str) -> Turn | None:
    """Cancel a turn no worker has started yet; None when there is none (it may be running)."""
    row = conn.execute(
        """update ai.turns set status = 'cancelled', finished_at = now()
           where conversation_id = %s and status = 'queued' returning *""", (conversation_id,)).fetchone()
    return _turn(row) if row else None
