"""SQL for `ai.usage_daily` (migration 0011): requests and tokens per (UTC day, chatbot, user).

Written by `record_turn` inside the transaction that closes a turn (app/chat/turns.py), only when
that transaction closed it, so a redelivered turn is never counted twice. Every closed turn counts
as one request with the tokens it used, whatever its ending: the provider charged for them.

Rows outlive their conversations and their chatbot (no foreign keys): they keep the chatbot's id,
namespace and name. Anonymous callers are counted under the user key 'anonymous'. Transactions
belong to the caller.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row

from app.db.filters import where_clause

ANONYMOUS = "anonymous"

# One statement, last in the closing transaction: the row it updates is shared by every turn of
# one user and chatbot that day (all anonymous callers of a chatbot share one), so its lock is
# held only until the commit that follows. `now()` is the transaction's time, the turn's finished_at.
RECORD_TURN = """
insert into ai.usage_daily as u (day, chatbot_id, user_key, user_id, namespace, chatbot, requests, cancelled,
                                 errors, prompt_tokens, completion_tokens, estimated_requests)
select (now() at time zone 'UTC')::date, c.chatbot_id, coalesce(c.user_id::text, 'anonymous'), c.user_id,
       b.namespace, b.name, 1, (%(status)s::text = 'cancelled')::int, (%(status)s::text = 'error')::int,
       %(prompt_tokens)s::bigint, %(completion_tokens)s::bigint, (%(estimated)s::boolean)::int
  from ai.conversations c
  join ai.chatbots b on b.id = c.chatbot_id
 where c.id = %(conversation_id)s
on conflict (day, chatbot_id, user_key) do update
   set requests = u.requests + 1, cancelled = u.cancelled + excluded.cancelled, errors = u.errors + excluded.errors,
       prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
       completion_tokens = u.completion_tokens + excluded.completion_tokens,
       estimated_requests = u.estimated_requests + excluded.estimated_requests, updated_at = now()
"""


# Each filter's condition; `where` joins those given. Only these constants ever become SQL text.
_CONDITIONS = {
    "chatbot_id": "chatbot_id = %(chatbot_id)s",
    "namespace": "namespace = %(namespace)s",
    "chatbot": "chatbot = %(chatbot)s",
    "user_key": "user_key = %(user_key)s",
    "since": "day >= %(since)s",
    "until": "day <= %(until)s",
}

USAGE_ROWS = """
select day, chatbot_id, namespace, chatbot, user_id, user_key, requests, cancelled, errors, prompt_tokens,
       completion_tokens, total_tokens, estimated_requests, first_at, updated_at
  from ai.usage_daily {where}
 order by day desc, namespace, chatbot, user_key
 limit %(limit)s offset %(offset)s
"""

USAGE_TOTALS = """
select count(*) as rows, coalesce(sum(requests), 0)::bigint as requests,
       coalesce(sum(cancelled), 0)::bigint as cancelled, coalesce(sum(errors), 0)::bigint as errors,
       coalesce(sum(prompt_tokens), 0)::bigint as prompt_tokens,
       coalesce(sum(completion_tokens), 0)::bigint as completion_tokens,
       coalesce(sum(total_tokens), 0)::bigint as total_tokens,
       coalesce(sum(estimated_requests), 0)::bigint as estimated_requests
  from ai.usage_daily {where}
"""


@dataclass(frozen=True)
class UsageFilter:
    chatbot_id: str | None = None
    namespace: str | None = None
    chatbot: str | None = None     # the chatbot's name (its rows keep it after the chatbot is deleted)
    user_key: str | None = None    # a user id, or ANONYMOUS
    since: date | None = None      # inclusive UTC days
    until: date | None = None

    def params(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in _CONDITIONS if getattr(self, key) is not None}


@dataclass(frozen=True)
class UsageRow:
    day: date
    chatbot_id: str
    namespace: str
    chatbot: str
    user_id: str | None
    requests: int
    cancelled: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated_requests: int
    first_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class UsageTotals:
    rows: int
    requests: int
    cancelled: int
    errors: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    estimated_requests: int


@dataclass(frozen=True)
class UsageReport:
    rows: list[UsageRow]
    totals: UsageTotals   # over every row the filter matches, not only this page


def record_turn(conn: Connection, *, conversation_id: str, status: str, prompt_tokens: int, completion_tokens: int,
                estimated: bool) -> None:
    """Count one closed turn of this conversation, today (UTC). Call only from the transaction that closed it."""
    conn.execute(RECORD_TURN, {"conversation_id": conversation_id, "status": status, "prompt_tokens": prompt_tokens,
                               "completion_tokens": completion_tokens, "estimated": estimated})


def usage_report(conn: Connection, where: UsageFilter, *, limit: int, offset: int = 0) -> UsageReport:
    """Rows newest day first (then namespace, chatbot, user), and the totals of all that match."""
    params = where.params()
    clause = where_clause(_CONDITIONS, params)
    with conn.cursor(row_factory=dict_row) as cur:
        totals = cur.execute(USAGE_TOTALS.format(where=clause), params).fetchone()
        rows = cur.execute(USAGE_ROWS.format(where=clause), {**params, "limit": limit, "offset": offset}).fetchall()
    return UsageReport([_row(row) for row in rows], UsageTotals(**totals))


def _row(row: Mapping[str, Any]) -> UsageRow:
    return UsageRow(row["day"], str(row["chatbot_id"]), row["namespace"], row["chatbot"],
                    row["user_id"] and str(row["user_id"]), row["requests"], row["cancelled"], row["errors"],
                    row["prompt_tokens"], row["completion_tokens"], row["total_tokens"], row["estimated_requests"],
                    row["first_at"], row["updated_at"])
