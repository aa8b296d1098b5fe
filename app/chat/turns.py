"""SQL for running turns (the worker side): attempts, closing, endings, leases, housekeeping.

Lock order, everywhere: the conversation row first, then its turns. Starting a turn
(app/chat/conversations.py) updates the conversation and then inserts into the unique index of
unfinished turns; closing a turn must therefore lock the conversation before it touches the turn,
or the two wait on each other (PostgreSQL reports a deadlock). Transactions belong to the caller
unless a function says otherwise.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from psycopg import Connection

from app import protocol
from app.chat import usage
from app.chat.lifetime import BUMP_EXPIRY
from app.chat.records import (
    ClosedTurn,
    Closing,
    Conversation,
    NewMessage,
    StoredMessage,
    Turn,
    TurnContext,
    UnfinishedTurn,
    closed_turn_of,
    turn_of,
)

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
       turn.published_seq, c.chatbot_id, c.user_id, c.user_role, c.turn_count, c.title, c.last_seq, c.provider_name,
       m.content as user_content
from turn
join ai.conversations c on c.id = turn.conversation_id
join ai.messages m on m.id = turn.user_message_id
"""


# Taken first by whoever closes a turn: the conversation row, then the turn (module docstring).
# The assistant's message is the conversation's latest: its expiry moves on (app/chat/lifetime.py).
LOCK_CONVERSATION = f"update ai.conversations c set updated_at = now(), {BUMP_EXPIRY} where id = %(conversation_id)s"


FINISH_TURN = """
update ai.turns set status = %(status)s, error_code = %(error_code)s, prompt_tokens = %(prompt_tokens)s,
       completion_tokens = %(completion_tokens)s, usage_estimated = %(usage_estimated)s, finished_at = now()
 where id = %(turn_id)s and status in ('queued', 'running') and assistant_message_id = %(message_id)s
returning id
"""


TURN_EXISTS = "select 1 from ai.turns where id = %(turn_id)s"


ADD_MESSAGE = """
insert into ai.messages (id, conversation_id, turn_id, role, content, tool_calls, tool_call_id, tool_name,
                         status, prompt_tokens, completion_tokens, usage_estimated)
values (coalesce(%(id)s, gen_random_uuid()), %(conversation_id)s, %(turn_id)s, %(role)s, %(content)s,
        %(tool_calls)s, %(tool_call_id)s, %(tool_name)s, %(status)s, %(prompt_tokens)s, %(completion_tokens)s,
        %(usage_estimated)s)
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
       t.completion_tokens, m.content, t.ending_seq, c.last_seq as conversation_last_seq, t.usage_estimated"""


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


def begin_attempt(conn: Connection, turn_id: str, *, lease_seconds: int) -> TurnContext | None:
    """None when the turn does not exist or is already finished."""
    row = conn.execute(BEGIN_ATTEMPT, {"turn_id": turn_id, "lease": lease_seconds}).fetchone()
    if row is None:
        return None
    conversation = Conversation(str(row["conversation_id"]), str(row["chatbot_id"]),
                                row["user_id"] and str(row["user_id"]), row["user_role"], row["turn_count"],
                                row["title"], row["last_seq"], provider_name=row["provider_name"])
    return TurnContext(turn_of(row), conversation, row["user_content"], row["published_seq"])


def close_turn(conn: Connection, turn: Turn, *, status: str, error_code: str | None, prompt_tokens: int,
               completion_tokens: int, messages: Sequence[NewMessage] = (), usage_estimated: bool = False) -> Closing:
    """Close the turn and store what it produced. Locks the conversation before the turn (the lock
    order of this module)."""
    conn.execute(LOCK_CONVERSATION, {"conversation_id": turn.conversation_id})
    closed = conn.execute(FINISH_TURN, {"status": status, "error_code": error_code, "prompt_tokens": prompt_tokens,
                                        "completion_tokens": completion_tokens, "usage_estimated": usage_estimated,
                                        "turn_id": turn.id,
                                        "message_id": turn.assistant_message_id}).fetchone()
    if closed is None:
        exists = conn.execute(TURN_EXISTS, {"turn_id": turn.id}).fetchone()
        return Closing.TAKEN if exists else Closing.GONE
    for message in messages:
        add_message(conn, turn, message)
    # Last: the usage row is shared by the user's other turns, so it is locked only until the commit.
    usage.record_turn(conn, conversation_id=turn.conversation_id, status=status, prompt_tokens=prompt_tokens,
                      completion_tokens=completion_tokens, estimated=usage_estimated)
    return Closing.CLOSED


def add_message(conn: Connection, turn: Turn, message: NewMessage) -> None:
    conn.execute(ADD_MESSAGE, {
        "id": message.message_id, "conversation_id": turn.conversation_id, "turn_id": turn.id, "role": message.role,
        "content": message.content, "tool_calls": json.dumps(message.tool_calls) if message.tool_calls else None,
        "tool_call_id": message.tool_call_id, "tool_name": message.tool_name, "status": message.status,
        "prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens,
        "usage_estimated": message.usage_estimated})


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
    if conn.execute(ABANDON_TURN, {"turn_id": turn.id}).fetchone() is None:
        return False
    # A request like any closed turn; what its lost attempts used died with their workers.
    usage.record_turn(conn, conversation_id=turn.conversation_id, status="error", prompt_tokens=0,
                      completion_tokens=0, estimated=False)
    return True


def claim_unpublished_ending(conn: Connection, turn_id: str) -> ClosedTurn | None:
    row = conn.execute(CLAIM_UNPUBLISHED_ENDING, {"turn_id": turn_id}).fetchone()
    return closed_turn_of(row) if row else None


def claim_unpublished_endings(conn: Connection, *, grace_seconds: int, horizon_seconds: int,
                              limit: int = 100) -> list[ClosedTurn]:
    rows = conn.execute(CLAIM_UNPUBLISHED_ENDINGS, {"grace": grace_seconds, "horizon": horizon_seconds,
                                                    "limit": limit}).fetchall()
    return [closed_turn_of(row) for row in rows]


def release_ending_claim(conn: Connection, turn_id: str) -> None:
    conn.execute(RELEASE_ENDING_CLAIM, {"turn_id": turn_id})


def ending_event(turn: ClosedTurn) -> dict:
    """The protocol ending of a closed turn, rebuilt from what is stored."""
    if turn.status == "done":
        usage = {"prompt_tokens": turn.prompt_tokens, "completion_tokens": turn.completion_tokens,
                 "total_tokens": turn.prompt_tokens + turn.completion_tokens}
        if turn.usage_estimated:  # as the worker's own ending said (Usage.as_dict)
            usage["estimated"] = True
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
    turn = closed_turn_of(row)
    return {**ending_event(turn), "content": turn.content or "", "recovered": True}


SET_QUOTA_KEY = "update ai.turns set quota_key = %(quota_key)s where id = %(turn_id)s"
QUOTA_KEY = "select quota_key from ai.turns where id = %(turn_id)s"


def set_quota_key(conn: Connection, turn_id: str, quota_key: str) -> None:
    conn.execute(SET_QUOTA_KEY, {"turn_id": turn_id, "quota_key": quota_key})


def quota_key(conn: Connection, turn_id: str) -> str | None:
    row = conn.execute(QUOTA_KEY, {"turn_id": turn_id}).fetchone()
    return row["quota_key"] if row else None
