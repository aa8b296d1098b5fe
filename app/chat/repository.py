"""SQL for conversations, turns and messages: statements as constants, named parameters, dataclass rows.

Lock order, everywhere: the conversation row first, then its turns. Starting a turn updates the
conversation and then inserts into the unique index of unfinished turns; closing a turn must
therefore lock the conversation before it touches the turn, or the two wait on each other
(PostgreSQL reports a deadlock). Transactions belong to the caller unless a function says otherwise.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from psycopg import Connection, errors

from app import protocol

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


@dataclass(frozen=True)
class TurnContext:
    """A started attempt and what it needs from its conversation."""

    turn: Turn
    conversation: Conversation
    user_content: str
    published_seq: int = 0   # the highest seq an earlier attempt of this turn is known to have published


@dataclass(frozen=True)
class StoredMessage:
    role: str
    content: str
    tool_calls: list | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    status: str = "complete"


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str = ""
    message_id: str | None = None
    tool_calls: list | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    status: str = "complete"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class ClosedTurn:
    """A finished turn whose ending may never have reached the stream bus."""

    id: str
    conversation_id: str
    assistant_message_id: str
    status: str
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    content: str | None = field(default=None)
    ending_seq: int | None = None
    conversation_last_seq: int = 0


@dataclass(frozen=True)
class UnfinishedTurn:
    id: str
    conversation_id: str
    assistant_message_id: str
    attempts: int
    status: str


# -- statements --------------------------------------------------------------------------------

CREATE_CONVERSATION = """
insert into ai.conversations (id, chatbot_id, user_id, user_role, expires_at)
values (coalesce(%(id)s::uuid, gen_random_uuid()), %(chatbot_id)s, %(user_id)s, %(user_role)s,
        case when %(ttl_hours)s::int is null then null else now() + make_interval(hours => %(ttl_hours)s::int) end)
returning id, chatbot_id, user_id, user_role, turn_count, title, last_seq
"""

# The role is part of ownership: a turn runs with the role stored on its conversation, so a token
# of another role for the same `sub` must not pick the conversation up (and run with its rights).
# `last_seq` here is the highest seq PostgreSQL knows the conversation used: the last ending's, or
# what its running turn noted since.
FIND_OWNED_CONVERSATION = """
select c.id, c.chatbot_id, c.user_id, c.user_role, c.turn_count, c.title,
       greatest(c.last_seq, coalesce((select max(t.published_seq) from ai.turns t
                                       where t.conversation_id = c.id and t.status in ('queued', 'running')), 0))
         as last_seq
  from ai.conversations c
 where c.id = %(id)s and c.chatbot_id = %(chatbot_id)s and c.user_id = %(user_id)s and c.user_role = %(user_role)s
   and (c.expires_at is null or c.expires_at > now())
"""

CONVERSATION_LAST_SEQ = "select last_seq from ai.conversations where id = %(id)s"

CONVERSATION_LIVE = """
select b.enabled from ai.conversations c join ai.chatbots b on b.id = c.chatbot_id
 where c.id = %(id)s and (c.expires_at is null or c.expires_at > now())
"""

# One statement: count the turn, store the user message and queue the turn. The unique index on
# unfinished turns makes a concurrent second message fail as a whole; a conversation at its turn
# limit, expired or gone, or whose chatbot was disabled, matches no row and inserts nothing.
START_TURN = """
with conversation as (
  update ai.conversations c set turn_count = turn_count + 1, updated_at = now(), title = coalesce(title, %(title)s)
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

# Mark the turn running for one more attempt and read its conversation and user message, in one
# round trip. A retried attempt (attempts > 0) gets a fresh assistant message id, so clients can
# tell its deltas from the lost attempt's partial text.
BEGIN_ATTEMPT = """
with turn as (
  update ai.turns set status = 'running', attempts = attempts + 1, started_at = now(),
         lease_until = now() + make_interval(secs => %(lease)s),
         assistant_message_id = case when attempts > 0 then gen_random_uuid() else assistant_message_id end
  where id = %(turn_id)s and status in ('queued', 'running')
  returning *
)
select turn.id, turn.conversation_id, turn.user_message_id, turn.assistant_message_id, turn.status, turn.attempts,
       turn.published_seq, c.chatbot_id, c.user_id, c.user_role, c.turn_count, c.title, c.last_seq, m.content as user_content
from turn
join ai.conversations c on c.id = turn.conversation_id
join ai.messages m on m.id = turn.user_message_id
"""

# Taken first by whoever closes a turn: the conversation row, then the turn (module docstring).
LOCK_CONVERSATION = "update ai.conversations set updated_at = now() where id = %(conversation_id)s"

FINISH_TURN = """
update ai.turns set status = %(status)s, error_code = %(error_code)s, prompt_tokens = %(prompt_tokens)s,
       completion_tokens = %(completion_tokens)s, finished_at = now()
 where id = %(turn_id)s and status in ('queued', 'running') and assistant_message_id = %(message_id)s
returning id
"""

TURN_EXISTS = "select 1 from ai.turns where id = %(turn_id)s"

ADD_MESSAGE = """
insert into ai.messages (id, conversation_id, turn_id, role, content, tool_calls, tool_call_id, tool_name,
                         status, prompt_tokens, completion_tokens)
values (coalesce(%(id)s, gen_random_uuid()), %(conversation_id)s, %(turn_id)s, %(role)s, %(content)s,
        %(tool_calls)s, %(tool_call_id)s, %(tool_name)s, %(status)s, %(prompt_tokens)s, %(completion_tokens)s)
"""

RECORD_LAST_SEQ = "update ai.conversations set last_seq = greatest(last_seq, %(seq)s) where id = %(conversation_id)s"
SET_ENDING_SEQ = "update ai.turns set ending_seq = %(seq)s where id = %(turn_id)s"

HISTORY = """
select role, content, tool_calls, tool_call_id, tool_name, status from ai.messages
 where conversation_id = %(conversation_id)s and turn_id is distinct from %(before_turn)s
 order by ordinal
"""

# Running with a lapsed lease, or queued for long: their worker may be gone.
UNFINISHED_TURNS = """
select id, conversation_id, assistant_message_id, attempts, status from ai.turns
 where (status = 'running' and coalesce(lease_until, started_at + make_interval(secs => %(running_idle)s)) < now())
    or (status = 'queued' and created_at < now() - make_interval(secs => %(queued_idle)s))
"""

RENEW_LEASES = """
update ai.turns t set lease_until = now() + make_interval(secs => %(lease)s),
       published_seq = greatest(t.published_seq, held.seq)
  from unnest(%(turn_ids)s::uuid[], %(seqs)s::bigint[]) as held(id, seq)
 where t.id = held.id and t.status = 'running'
"""

ABANDON_TURN = """
update ai.turns set status = 'error', error_code = 'INTERNAL_ERROR', finished_at = now()
 where id = %(turn_id)s and status in ('queued', 'running')
returning id
"""

_CLOSED_COLUMNS = """t.id, t.conversation_id, t.assistant_message_id, t.status, t.error_code, t.prompt_tokens,
       t.completion_tokens, m.content, t.ending_seq, c.last_seq as conversation_last_seq"""
_CLOSED_JOINS = """left join ai.messages m on m.id = t.assistant_message_id
  join ai.conversations c on c.id = t.conversation_id"""

CLOSED_TURN_BY_MESSAGE = f"""
select {_CLOSED_COLUMNS} from ai.turns t {_CLOSED_JOINS}
 where t.assistant_message_id = %(message_id)s and t.status in ('done', 'cancelled', 'error')
"""

# A redelivered finished turn: claim its ending if it never reached Redis (ending_seq 0 = being published).
CLAIM_UNPUBLISHED_ENDING = f"""
with claimed as (
  update ai.turns set ending_seq = 0
   where id = %(turn_id)s and ending_seq is null and status in ('done', 'cancelled', 'error')
  returning *
)
select {_CLOSED_COLUMNS} from claimed t {_CLOSED_JOINS}
"""

# Claim (ending_seq 0 = being published) endings that never reached Redis, oldest first.
CLAIM_UNPUBLISHED_ENDINGS = f"""
with claimed as (
  update ai.turns set ending_seq = 0
   where id in (select id from ai.turns
                 where ending_seq is null and status in ('done', 'cancelled', 'error')
                   and finished_at < now() - make_interval(secs => %(grace)s)
                   and finished_at > now() - make_interval(secs => %(horizon)s)
                 order by finished_at limit %(limit)s for update skip locked)
  returning *
)
select {_CLOSED_COLUMNS} from claimed t {_CLOSED_JOINS}
"""

RELEASE_ENDING_CLAIM = "update ai.turns set ending_seq = null where id = %(turn_id)s and ending_seq = 0"

CANCEL_QUEUED_TURN = """
update ai.turns set status = 'cancelled', finished_at = now()
 where conversation_id = %(conversation_id)s and status = 'queued'
returning id, conversation_id, user_message_id, assistant_message_id, status, attempts
"""


# -- conversations -----------------------------------------------------------------------------

def _conversation(row: dict) -> Conversation:
    return Conversation(str(row["id"]), str(row["chatbot_id"]), row["user_id"] and str(row["user_id"]),
                        row["user_role"], row["turn_count"], row["title"], row["last_seq"])


def create_conversation(conn: Connection, *, chatbot_id: str, user_id: str | None, user_role: str,
                        ttl_hours: int | None, conversation_id: str | None = None) -> Conversation:
    row = conn.execute(CREATE_CONVERSATION, {"id": conversation_id, "chatbot_id": chatbot_id, "user_id": user_id,
                                             "user_role": user_role, "ttl_hours": ttl_hours}).fetchone()
    return _conversation(row)


def find_owned_conversation(conn: Connection, *, conversation_id: str, chatbot_id: str,
                            user_id: str | None, user_role: str) -> Conversation | None:
    """The conversation if it exists, is live, and belongs to this user, role and chatbot; None
    otherwise (the caller must not learn which of those failed). Anonymous callers own nothing:
    an anon token proves no identity, whatever `sub` it carries."""
    if user_id is None or user_role == "anon":
        return None
    row = conn.execute(FIND_OWNED_CONVERSATION, {"id": conversation_id, "chatbot_id": chatbot_id,
                                                 "user_id": user_id, "user_role": user_role}).fetchone()
    return _conversation(row) if row else None


def last_seq(conn: Connection, conversation_id: str) -> int:
    row = conn.execute(CONVERSATION_LAST_SEQ, {"id": conversation_id}).fetchone()
    return row["last_seq"] if row else 0


# -- turns -------------------------------------------------------------------------------------

def _turn(row: dict) -> Turn:
    return Turn(str(row["id"]), str(row["conversation_id"]), str(row["user_message_id"]),
                str(row["assistant_message_id"]), row["status"], row["attempts"])


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
    return _turn(row)


def withdraw_turn(conn: Connection, turn: Turn) -> None:
    conn.execute(WITHDRAW_TURN, {"turn_id": turn.id})


def _title(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1].rstrip() + "…"


def active_turn(conn: Connection, conversation_id: str) -> Turn | None:
    row = conn.execute(ACTIVE_TURN, {"conversation_id": conversation_id}).fetchone()
    return _turn(row) if row else None


def begin_attempt(conn: Connection, turn_id: str, *, lease_seconds: int) -> TurnContext | None:
    """None when the turn does not exist or is already finished."""
    row = conn.execute(BEGIN_ATTEMPT, {"turn_id": turn_id, "lease": lease_seconds}).fetchone()
    if row is None:
        return None
    conversation = Conversation(str(row["conversation_id"]), str(row["chatbot_id"]),
                                row["user_id"] and str(row["user_id"]), row["user_role"], row["turn_count"],
                                row["title"], row["last_seq"])
    return TurnContext(_turn(row), conversation, row["user_content"], row["published_seq"])


class Closing(StrEnum):
    CLOSED = "closed"      # this attempt closed the turn and stored what it produced
    TAKEN = "taken"        # another attempt closed it (or took it over): store and publish nothing
    GONE = "gone"          # the turn no longer exists: its conversation was deleted meanwhile


def close_turn(conn: Connection, turn: Turn, *, status: str, error_code: str | None, prompt_tokens: int,
               completion_tokens: int, messages: Sequence[NewMessage] = ()) -> Closing:
    """Close the turn and store what it produced. Locks the conversation before the turn (the lock
    order of this module)."""
    conn.execute(LOCK_CONVERSATION, {"conversation_id": turn.conversation_id})
    closed = conn.execute(FINISH_TURN, {"status": status, "error_code": error_code, "prompt_tokens": prompt_tokens,
                                        "completion_tokens": completion_tokens, "turn_id": turn.id,
                                        "message_id": turn.assistant_message_id}).fetchone()
    if closed is None:
        exists = conn.execute(TURN_EXISTS, {"turn_id": turn.id}).fetchone()
        return Closing.TAKEN if exists else Closing.GONE
    for message in messages:
        add_message(conn, turn, message)
    return Closing.CLOSED


def add_message(conn: Connection, turn: Turn, message: NewMessage) -> None:
    conn.execute(ADD_MESSAGE, {
        "id": message.message_id, "conversation_id": turn.conversation_id, "turn_id": turn.id, "role": message.role,
        "content": message.content, "tool_calls": json.dumps(message.tool_calls) if message.tool_calls else None,
        "tool_call_id": message.tool_call_id, "tool_name": message.tool_name, "status": message.status,
        "prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens})


def record_ending(conn: Connection, *, turn_id: str, conversation_id: str, last_seq: int,
                  ending_seq: int | None) -> None:
    """Keep the conversation's highest seq (so numbering survives Redis) and the seq the ending got
    (None: it never reached Redis, housekeeping publishes it later)."""
    conn.execute(RECORD_LAST_SEQ, {"conversation_id": conversation_id, "seq": last_seq})
    if ending_seq is not None:
        conn.execute(SET_ENDING_SEQ, {"seq": ending_seq, "turn_id": turn_id})


def history(conn: Connection, conversation_id: str, *, before_turn: str) -> list[StoredMessage]:
    """Messages of earlier turns, oldest first, for the prompt (the current user message is added by the caller).

    Failed and cancelled turns are included: their tool calls happened (a write may have been made)
    and the model must know. Tool calls are stored together with their results, so the pairs the
    provider requires are always complete.
    """
    rows = conn.execute(HISTORY, {"conversation_id": conversation_id, "before_turn": before_turn}).fetchall()
    return [StoredMessage(row["role"], row["content"], row["tool_calls"], row["tool_call_id"], row["tool_name"],
                          row["status"]) for row in rows]


def unfinished_turns(conn: Connection, *, running_idle_seconds: int, queued_idle_seconds: int) -> list[UnfinishedTurn]:
    rows = conn.execute(UNFINISHED_TURNS, {"running_idle": running_idle_seconds,
                                           "queued_idle": queued_idle_seconds}).fetchall()
    return [UnfinishedTurn(str(r["id"]), str(r["conversation_id"]), str(r["assistant_message_id"]), r["attempts"],
                           r["status"]) for r in rows]


def renew_leases(conn: Connection, positions: dict[str, int], *, lease_seconds: int) -> None:
    """Renew the leases of these running turns and note the highest seq each has published."""
    conn.execute(RENEW_LEASES, {"turn_ids": list(positions), "seqs": list(positions.values()),
                                "lease": lease_seconds})


def abandon_turn(conn: Connection, turn: UnfinishedTurn) -> bool:
    conn.execute(LOCK_CONVERSATION, {"conversation_id": turn.conversation_id})
    return conn.execute(ABANDON_TURN, {"turn_id": turn.id}).fetchone() is not None


def _closed(row: dict) -> ClosedTurn:
    return ClosedTurn(str(row["id"]), str(row["conversation_id"]), str(row["assistant_message_id"]), row["status"],
                      row["error_code"], row["prompt_tokens"], row["completion_tokens"], row["content"],
                      row["ending_seq"], row["conversation_last_seq"])


def claim_unpublished_ending(conn: Connection, turn_id: str) -> ClosedTurn | None:
    row = conn.execute(CLAIM_UNPUBLISHED_ENDING, {"turn_id": turn_id}).fetchone()
    return _closed(row) if row else None


def claim_unpublished_endings(conn: Connection, *, grace_seconds: int, horizon_seconds: int,
                              limit: int = 100) -> list[ClosedTurn]:
    rows = conn.execute(CLAIM_UNPUBLISHED_ENDINGS, {"grace": grace_seconds, "horizon": horizon_seconds,
                                                    "limit": limit}).fetchall()
    return [_closed(row) for row in rows]


def release_ending_claim(conn: Connection, turn_id: str) -> None:
    conn.execute(RELEASE_ENDING_CLAIM, {"turn_id": turn_id})


def cancel_queued_turn(conn: Connection, conversation_id: str) -> Turn | None:
    """Cancel a turn no worker has started yet; None when there is none (it may be running)."""
    row = conn.execute(CANCEL_QUEUED_TURN, {"conversation_id": conversation_id}).fetchone()
    return _turn(row) if row else None


# -- endings as events ---------------------------------------------------------------------------

def ending_event(turn: ClosedTurn) -> dict:
    """The protocol ending of a closed turn, rebuilt from what is stored."""
    if turn.status == "done":
        usage = {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                 "total_tokens": turn.prompt_tokens + turn.completion_tokens}
        event = protocol.done(usage)
    elif turn.status == "cancelled":
        event = protocol.cancelled()
    else:
        code = turn.error_code if turn.error_code in protocol.Code.__members__ else protocol.Code.INTERNAL_ERROR
        event = protocol.error(protocol.Code(code))
    return {**event, "message_id": turn.assistant_message_id}


def stored_ending(conn: Connection, message_id: str) -> dict | None:
    """The ending of the closed turn that produced `message_id`, with the stored answer in `content`."""
    row = conn.execute(CLOSED_TURN_BY_MESSAGE, {"message_id": message_id}).fetchone()
    if row is None:
        return None
    turn = _closed(row)
    return {**ending_event(turn), "content": turn.content or "", "recovered": True}
