"""SQL for the conversation REST APIs (a user's own, and the admins'): reading, renaming, deleting.

Every read goes through LIVE (app/chat/lifetime.py): an expired conversation is absent here too,
whether or not the expiry job has deleted it yet. A user's conversations are the ones whose
(user_id, user_role) are the caller's, the same rule a WebSocket resume follows
(app/chat/conversations.py): a token of another role for the same `sub` owns none of them.

Messages as users see them are their own and the answers: a turn's intermediate assistant
messages (the ones that only call tools) and the tool results are the model's working, shown to
admins only. Transactions belong to the caller unless a function says otherwise.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psycopg import Connection

from app.chat.lifetime import LIVE

PREVIEW_LENGTH = 100

# The messages a user sees (alias `m`).
_VISIBLE = "(m.role = 'user' or (m.role = 'assistant' and m.tool_calls is null))"

_COLUMNS = """c.id, c.chatbot_id, b.name as chatbot, b.namespace, c.user_id, c.user_role, c.title, c.persisted,
       c.turn_count, c.created_at, c.updated_at, c.expires_at,
       coalesce(first_message.preview, '') as preview, counted.message_count, counted.last_message_at,
       used.prompt_tokens, used.completion_tokens, c.provider_name"""

# Per conversation `c`: each an index range (messages_conversation, turns_conversation).
_DETAILS = f"""
  left join lateral (select left(m.content, {PREVIEW_LENGTH}) as preview from ai.messages m
                      where m.conversation_id = c.id and m.role = 'user' order by m.ordinal limit 1) first_message on true
  cross join lateral (select count(*) as message_count, max(m.created_at) as last_message_at from ai.messages m
                       where m.conversation_id = c.id and {_VISIBLE}) counted
  cross join lateral (select coalesce(sum(t.prompt_tokens), 0) as prompt_tokens,
                             coalesce(sum(t.completion_tokens), 0) as completion_tokens
                        from ai.turns t where t.conversation_id = c.id) used"""

_OWNER = "c.user_id = %(user_id)s and c.user_role = %(user_role)s"

# The total comes with the page, so a list is one round trip (a page past the end has no row to
# carry it: the caller then counts, list_owned below).
_PAGE = """
), page as (
  select id, updated_at from matching order by updated_at desc, id desc limit %(limit)s offset %(offset)s
)
select (select count(*) from matching) as total, {columns}
  from page p join ai.conversations c on c.id = p.id join ai.chatbots b on b.id = c.chatbot_id {details}
 order by p.updated_at desc, p.id desc
"""

LIST_OWNED = f"""
with matching as (
  select c.id, c.updated_at from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id
   where {_OWNER}
     and (%(chatbot)s::text is null or b.name = %(chatbot)s)
     and (%(namespace)s::text is null or b.namespace = %(namespace)s)
     and {LIVE}
""" + _PAGE.format(columns=_COLUMNS, details=_DETAILS)

COUNT_OWNED = f"""
select count(*) as total from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id
 where {_OWNER}
   and (%(chatbot)s::text is null or b.name = %(chatbot)s)
   and (%(namespace)s::text is null or b.namespace = %(namespace)s)
   and {LIVE}
"""

LIST_ALL = f"""
with matching as (
  select c.id, c.updated_at from ai.conversations c
   where (%(chatbot_id)s::uuid is null or c.chatbot_id = %(chatbot_id)s::uuid)
     and (%(user_id)s::uuid is null or c.user_id = %(user_id)s::uuid)
     and {LIVE}
""" + _PAGE.format(columns=_COLUMNS, details=_DETAILS)

COUNT_ALL = f"""
select count(*) as total from ai.conversations c
 where (%(chatbot_id)s::uuid is null or c.chatbot_id = %(chatbot_id)s::uuid)
   and (%(user_id)s::uuid is null or c.user_id = %(user_id)s::uuid)
   and {LIVE}
"""

GET_OWNED = f"""
select {_COLUMNS}
  from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id {_DETAILS}
 where c.id = %(id)s and {_OWNER} and {LIVE}
"""

GET_ANY = f"""
select {_COLUMNS}
  from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id {_DETAILS}
 where c.id = %(id)s and {LIVE}
"""

# Renaming is not a message: the expiry stays where the last one put it.
RENAME_OWNED = f"""
update ai.conversations c set title = %(title)s, updated_at = now()
 where c.id = %(id)s and {_OWNER} and {LIVE}
returning c.id
"""

# Locked first, so a turn starting meanwhile either committed before (and is seen by the next
# statement) or waits and then finds its conversation gone (the lock order of app/chat/turns.py).
LOCK_OWNED = f"select c.id from ai.conversations c where c.id = %(id)s and {_OWNER} and {LIVE} for update of c"

HAS_UNFINISHED_TURN = """
select 1 from ai.turns where conversation_id = %(id)s and status in ('queued', 'running') limit 1
"""

DELETE = "delete from ai.conversations where id = %(id)s"

# An admin's provider pin (app/providers/pinning.py). Not a message either: updated_at and the
# expiry stay; a running turn keeps the provider it started with, the next one uses the pin.
PIN_PROVIDER = f"""
update ai.conversations c set provider_name = %(provider)s
 where c.id = %(id)s and {LIVE}
returning c.id
"""

_MESSAGE_COLUMNS = """count(*) over () as total, m.id, m.turn_id, m.role, m.content, m.tool_calls, m.tool_call_id,
       m.tool_name, m.status, m.prompt_tokens, m.completion_tokens, m.usage_estimated, m.created_at, m.ordinal"""

VISIBLE_MESSAGES = f"""
select {_MESSAGE_COLUMNS} from ai.messages m
 where m.conversation_id = %(id)s and {_VISIBLE}
 order by m.ordinal limit %(limit)s offset %(offset)s
"""

COUNT_VISIBLE_MESSAGES = f"select count(*) as total from ai.messages m where m.conversation_id = %(id)s and {_VISIBLE}"

ALL_MESSAGES = f"""
select {_MESSAGE_COLUMNS} from ai.messages m
 where m.conversation_id = %(id)s
 order by m.ordinal limit %(limit)s offset %(offset)s
"""

COUNT_ALL_MESSAGES = "select count(*) as total from ai.messages m where m.conversation_id = %(id)s"

# The statements the turns ran, for the answers' `query_results` (their rows went to the client
# live and are not kept).
EXECUTED_QUERIES = """
select turn_id, sql, row_count, command from ai.sql_audit
 where turn_id = any(%(turn_ids)s::uuid[]) and verdict = 'executed'
 order by id
"""


@dataclass(frozen=True)
class ConversationRow:
    id: str
    chatbot_id: str
    chatbot: str
    namespace: str
    user_id: str | None
    user_role: str
    title: str | None
    persisted: bool
    turn_count: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    preview: str
    message_count: int
    last_message_at: datetime | None
    prompt_tokens: int
    completion_tokens: int
    provider_name: str | None = None     # an admin's pin; shown to admins only


@dataclass(frozen=True)
class MessageRow:
    id: str
    turn_id: str | None
    role: str
    content: str
    tool_calls: Any
    tool_call_id: str | None
    tool_name: str | None
    status: str
    prompt_tokens: int | None
    completion_tokens: int | None
    usage_estimated: bool
    created_at: datetime
    ordinal: int


@dataclass(frozen=True)
class ExecutedQuery:
    sql: str
    row_count: int | None
    command: str | None


@dataclass(frozen=True)
class Page:
    items: list
    total: int


class Deletion(StrEnum):
    DELETED = "deleted"
    NOT_FOUND = "not_found"
    TURN_RUNNING = "turn_running"


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_uuid(value: str) -> bool:
    """Ids from a URL, in the one form PostgreSQL and our answers use: anything else is simply not
    found, never a database error (uuid.UUID also takes `urn:uuid:...`, braces and odd hyphens,
    which PostgreSQL refuses)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def _conversation(row: dict) -> ConversationRow:
    return ConversationRow(
        str(row["id"]), str(row["chatbot_id"]), row["chatbot"], row["namespace"],
        row["user_id"] and str(row["user_id"]), row["user_role"], row["title"], row["persisted"], row["turn_count"],
        row["created_at"], row["updated_at"], row["expires_at"], row["preview"], row["message_count"],
        row["last_message_at"], int(row["prompt_tokens"]), int(row["completion_tokens"]), row.get("provider_name"))


def _message(row: dict) -> MessageRow:
    return MessageRow(str(row["id"]), row["turn_id"] and str(row["turn_id"]), row["role"], row["content"],
                      row["tool_calls"], row["tool_call_id"], row["tool_name"], row["status"], row["prompt_tokens"],
                      row["completion_tokens"], bool(row["usage_estimated"]), row["created_at"], row["ordinal"])


def _page(conn: Connection, query: str, count: str, params: dict, of) -> Page:
    rows = conn.execute(query, params).fetchall()
    if rows:
        return Page([of(row) for row in rows], rows[0]["total"])
    if params["offset"] == 0:
        return Page([], 0)
    return Page([], conn.execute(count, params).fetchone()["total"])


def list_owned(conn: Connection, *, user_id: str, user_role: str, chatbot: str | None, namespace: str | None,
               limit: int, offset: int) -> Page:
    """The caller's live conversations, most recently active first."""
    params = {"user_id": user_id, "user_role": user_role, "chatbot": chatbot, "namespace": namespace,
              "limit": limit, "offset": offset}
    return _page(conn, LIST_OWNED, COUNT_OWNED, params, _conversation)


def list_all(conn: Connection, *, chatbot_id: str | None, user_id: str | None, limit: int, offset: int) -> Page:
    params = {"chatbot_id": chatbot_id, "user_id": user_id, "limit": limit, "offset": offset}
    return _page(conn, LIST_ALL, COUNT_ALL, params, _conversation)


def get_owned(conn: Connection, conversation_id: str, *, user_id: str, user_role: str) -> ConversationRow | None:
    if not is_uuid(conversation_id):
        return None
    row = conn.execute(GET_OWNED, {"id": conversation_id, "user_id": user_id, "user_role": user_role}).fetchone()
    return _conversation(row) if row else None


def get_any(conn: Connection, conversation_id: str) -> ConversationRow | None:
    if not is_uuid(conversation_id):
        return None
    row = conn.execute(GET_ANY, {"id": conversation_id}).fetchone()
    return _conversation(row) if row else None


def rename_owned(conn: Connection, conversation_id: str, title: str, *, user_id: str, user_role: str) -> bool:
    if not is_uuid(conversation_id):
        return False
    params = {"id": conversation_id, "title": title, "user_id": user_id, "user_role": user_role}
    return conn.execute(RENAME_OWNED, params).fetchone() is not None


def delete_owned(conn: Connection, conversation_id: str, *, user_id: str, user_role: str) -> Deletion:
    """Delete the caller's conversation, its turns and messages; never one with an unfinished turn.
    Runs in a transaction of its own."""
    if not is_uuid(conversation_id):
        return Deletion.NOT_FOUND
    params = {"id": conversation_id, "user_id": user_id, "user_role": user_role}
    with conn.transaction():
        if conn.execute(LOCK_OWNED, params).fetchone() is None:
            return Deletion.NOT_FOUND
        if conn.execute(HAS_UNFINISHED_TURN, params).fetchone() is not None:
            return Deletion.TURN_RUNNING
        conn.execute(DELETE, params)
    return Deletion.DELETED


def visible_messages(conn: Connection, conversation_id: str, *, limit: int, offset: int = 0) -> Page:
    """The user's messages and the answers, oldest first."""
    params = {"id": conversation_id, "limit": limit, "offset": offset}
    return _page(conn, VISIBLE_MESSAGES, COUNT_VISIBLE_MESSAGES, params, _message)


def all_messages(conn: Connection, conversation_id: str, *, limit: int, offset: int = 0) -> Page:
    """Every stored message, tool calls and results included, oldest first (for admins)."""
    params = {"id": conversation_id, "limit": limit, "offset": offset}
    return _page(conn, ALL_MESSAGES, COUNT_ALL_MESSAGES, params, _message)


def executed_queries(conn: Connection, turn_ids: list[str]) -> dict[str, list[ExecutedQuery]]:
    """Per turn, the statements it ran (in order)."""
    found: dict[str, list[ExecutedQuery]] = {}
    if not turn_ids:
        return found
    for row in conn.execute(EXECUTED_QUERIES, {"turn_ids": turn_ids}).fetchall():
        found.setdefault(str(row["turn_id"]), []).append(ExecutedQuery(row["sql"], row["row_count"], row["command"]))
    return found


def pin_provider(conn: Connection, conversation_id: str, provider: str | None) -> bool:
    """Pin a live conversation to a provider (None removes the pin); False when it is not there."""
    if not is_uuid(conversation_id):
        return False
    return conn.execute(PIN_PROVIDER, {"id": conversation_id, "provider": provider}).fetchone() is not None
