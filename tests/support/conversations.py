"""Conversations made for tests through the server's own repository functions (no socket, no worker):
chatbots with persistence on and off, and finished turns with tool calls, results and audit rows."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from app.chat import conversations, turns
from app.chat.records import NewMessage
from app.chatbots import repository
from app.sql.audit import record_audit
from config import Settings

_BOT = """/**
 * {title}
 *
 * @fluxbase:description Conversation lifecycle tests
 * @fluxbase:allowed-tables orders
 * @fluxbase:allowed-operations SELECT
{annotations} */
export default `You answer briefly.`;
"""


def bot_code(title: str, *annotations: str) -> str:
    return _BOT.format(title=title, annotations="".join(f" * @fluxbase:{a}\n" for a in annotations))


LIFECYCLE_BOTS = {
    "keep": bot_code("Kept", "persist-conversations true", "conversation-ttl 24"),
    "keep-too": bot_code("Kept too", "persist-conversations true", "conversation-ttl 1"),
    "brief": bot_code("Ephemeral"),   # persist-conversations is off by default
}


def sync_bots(settings: Settings, namespace: str | None = None, bots: dict[str, str] | None = None) -> dict[str, str]:
    """Sync `bots` (default LIFECYCLE_BOTS) into a fresh namespace; returns name -> chatbot id, plus
    `namespace`."""
    from app.chatbots.sync_service import sync_payload

    namespace = namespace or f"conv-{uuid.uuid4().hex[:8]}"
    bots = bots or LIFECYCLE_BOTS
    report = sync_payload(settings, namespace=namespace, chatbots=[{"name": n, "code": c} for n, c in bots.items()],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    with connect(settings) as conn:
        ids = {name: repository.get_by_name(conn, namespace, name).id for name in bots}
    return {**ids, "namespace": namespace}


def connect(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(settings.database_url, row_factory=dict_row)


@dataclass(frozen=True)
class Made:
    id: str
    turn_ids: list[str]
    message_ids: list[str]    # the answers' ids


def make_conversation(settings: Settings, chatbot_id: str, user_id: str | None, *, role: str = "authenticated",
                      persisted: bool = True, ttl_hours: int | None = 24, grace_seconds: int = 300,
                      exchanges: list[tuple[str, str]] = (), with_query: bool = False,
                      open_turn: str | None = None) -> Made:
    """A conversation with finished turns (question, answer); `with_query` gives each turn an
    execute_sql call, its tool result and an executed audit row; `open_turn` leaves a last turn queued."""
    turn_ids, answers = [], []
    with connect(settings) as conn:
        made = conversations.create_conversation(conn, chatbot_id=chatbot_id, user_id=user_id, user_role=role,
                                                 ttl_hours=ttl_hours, persisted=persisted,
                                                 grace_seconds=grace_seconds)
        conn.commit()
        for question, answer in exchanges:
            turn = conversations.start_turn(conn, made.id, question, max_turns=1000)
            messages = []
            if with_query:
                call = {"id": f"call_{uuid.uuid4().hex[:8]}", "name": "execute_sql",
                        "arguments": '{"sql": "SELECT id FROM orders", "description": "orders"}'}
                messages += [NewMessage(role="assistant", content="", tool_calls=[call]),
                             NewMessage(role="tool", content="Returned 5 rows (columns: id)", tool_call_id=call["id"],
                                        tool_name="execute_sql")]
                record_audit(conn, chatbot_id=chatbot_id, conversation_id=made.id, turn_id=turn.id, user_id=user_id,
                             user_role=role, sql="SELECT id FROM orders", verdict="executed", reason=None,
                             row_count=5, duration_ms=1.5, command="SELECT")
            messages.append(NewMessage(role="assistant", content=answer, message_id=turn.assistant_message_id,
                                       prompt_tokens=100, completion_tokens=7))
            with conn.transaction():
                turns.close_turn(conn, turn, status="done", error_code=None, prompt_tokens=100, completion_tokens=7,
                                 messages=messages)
            turn_ids.append(turn.id)
            answers.append(turn.assistant_message_id)
        if open_turn is not None:
            turn = conversations.start_turn(conn, made.id, open_turn, max_turns=1000)
            turn_ids.append(turn.id)
        conn.commit()
    return Made(made.id, turn_ids, answers)


def conversation_row(settings: Settings, conversation_id: str) -> dict | None:
    with connect(settings) as conn:
        return conn.execute("select *, expires_at - now() as remaining from ai.conversations where id = %s",
                            (conversation_id,)).fetchone()


def count_rows(settings: Settings, table: str, conversation_id: str) -> int:
    assert table in ("ai.messages", "ai.turns")
    with connect(settings) as conn:
        return conn.execute(f"select count(*) as n from {table} where conversation_id = %s",
                            (conversation_id,)).fetchone()["n"]


def set_expiry(settings: Settings, conversation_id: str, sql_expression: str) -> None:
    """Move a conversation's expiry, e.g. `now() - interval '1 second'` (a controllable clock)."""
    with connect(settings) as conn:
        conn.execute(f"update ai.conversations set expires_at = {sql_expression} where id = %s", (conversation_id,))
        conn.commit()


def finish_open_turns(settings: Settings, conversation_id: str) -> None:
    """Close what `open_turn` left queued: a queued turn nobody runs would be found by the next
    stack whose housekeeping shares this database, and sent to its worker and the scripted LLM."""
    with connect(settings) as conn:
        conn.execute("update ai.turns set status = 'cancelled', finished_at = now(), ending_seq = 0 "
                     "where conversation_id = %s and status in ('queued', 'running')", (conversation_id,))
        conn.commit()
