"""SQL for conversations, turns, messages and the SQL audit trail (owner connection, dict rows)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from psycopg import Connection, errors

TITLE_LENGTH = 80


class TurnInProgress(Exception):
    """The conversation already has a queued or running turn."""


@dataclass(frozen=True)
class Conversation:
    id: str
    chatbot_id: str
    user_id: str | None
    user_role: str
    turn_count: int
    title: str | None


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
                        row["user_role"], row["turn_count"], row["title"])


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


def get_conversation(conn: Connection, conversation_id: str) -> Conversation | None:
    row = conn.execute("select * from ai.conversations where id = %s", (conversation_id,)).fetchone()
    return _conversation(row) if row else None


def start_turn(conn: Connection, conversation: Conversation, content: str) -> Turn:
    """Persist the user message and a queued turn in one transaction.

    The partial unique index on active turns makes a second concurrent message fail here, atomically.
    """
    try:
        with conn.transaction():
            message = conn.execute(
                """insert into ai.messages (conversation_id, role, content) values (%s, 'user', %s) returning id""",
                (conversation.id, content)).fetchone()
            turn = conn.execute(
                """insert into ai.turns (conversation_id, user_message_id, assistant_message_id)
                   values (%s, %s, gen_random_uuid()) returning *""", (conversation.id, message["id"])).fetchone()
            conn.execute(
                """update ai.conversations set turn_count = turn_count + 1, updated_at = now(),
                          title = coalesce(title, %s) where id = %s""",
                (_title(content), conversation.id))
            conn.execute("update ai.messages set turn_id = %s where id = %s", (turn["id"], message["id"]))
    except errors.UniqueViolation:
        raise TurnInProgress(conversation.id) from None
    return _turn(turn)


def _title(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def _turn(row: dict) -> Turn:
    return Turn(str(row["id"]), str(row["conversation_id"]), str(row["user_message_id"]),
                str(row["assistant_message_id"]), row["status"], row["attempts"])


def get_turn(conn: Connection, turn_id: str) -> Turn | None:
    row = conn.execute("select * from ai.turns where id = %s", (turn_id,)).fetchone()
    return _turn(row) if row else None


def active_turn(conn: Connection, conversation_id: str) -> Turn | None:
    row = conn.execute("select * from ai.turns where conversation_id = %s and status in ('queued', 'running')",
                       (conversation_id,)).fetchone()
    return _turn(row) if row else None


def begin_attempt(conn: Connection, turn_id: str, *, new_message_id: bool) -> Turn | None:
    """Mark the turn running for one more attempt; None when it is already finished.

    A retried attempt gets a fresh assistant message id so clients can tell its deltas from the
    lost attempt's partial text.
    """
    row = conn.execute(
        """update ai.turns set status = 'running', attempts = attempts + 1, started_at = now(),
                  assistant_message_id = case when %s then gen_random_uuid() else assistant_message_id end
           where id = %s and status in ('queued', 'running') returning *""", (new_message_id, turn_id)).fetchone()
    return _turn(row) if row else None


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
    """Messages of earlier turns, oldest first, for the prompt (the current user message is added by the caller)."""
    return conn.execute(
        """select m.role, m.content, m.tool_calls, m.tool_call_id, m.tool_name, m.status
           from ai.messages m
           where m.conversation_id = %s and m.turn_id is distinct from %s
             and (m.turn_id is null or exists (select 1 from ai.turns t where t.id = m.turn_id and t.status <> 'error')
                  or m.role = 'user')
           order by m.ordinal""", (conversation_id, before_turn)).fetchall()


def user_message(conn: Connection, message_id: str) -> str:
    return conn.execute("select content from ai.messages where id = %s", (message_id,)).fetchone()["content"]


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


def record_audit(conn: Connection, *, chatbot_id: str | None, conversation_id: str | None, turn_id: str | None,
                 user_id: str | None, user_role: str, sql: str, verdict: str, reason: str | None,
                 row_count: int | None, duration_ms: float | None) -> None:
    conn.execute(
        """insert into ai.sql_audit (chatbot_id, conversation_id, turn_id, user_id, user_role, sql, verdict, reason,
                                     row_count, duration_ms) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (chatbot_id, conversation_id, turn_id, user_id, user_role, sql, verdict, reason, row_count, duration_ms))


def touch(conn: Connection, conversation_id: str, when: datetime | None = None) -> None:
    conn.execute("update ai.conversations set updated_at = coalesce(%s, now()) where id = %s", (when, conversation_id))
