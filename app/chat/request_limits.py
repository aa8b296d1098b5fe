"""`@fluxbase:rate-limit` and `@fluxbase:daily-limit`, per (chatbot, caller), held in Redis.

The rate limit is a moving window (any 60 seconds), the `limits` package's Lua-backed strategy, so
N concurrent messages against a limit of N-1 let exactly N-1 through, on any number of web
processes. The daily limit counts per UTC date: the date is part of the key, so the count starts
again at 00:00 UTC (the package's own daily window runs 24 h from the first hit), and every key
expires by itself. A message counts when it starts a turn: checked once the turn is stored and
before it is queued, so a refused message is taken back (nothing stays stored, no model is called);
a message refused for another reason (TURN_IN_PROGRESS) uses no quota.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import redis
from limits import RateLimitItemPerDay, RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from app.auth.tokens import Principal
from app.protocol import Code, ProtocolError

_PREFIX = "fluxbase:limits"


def caller_identity(principal: Principal, client_address: str | None) -> str:
    """Whose quota a message uses: the signed-in user; for anonymous callers, their anon key's claims
    together with the client address (behind PROXY_DEPTH proxies), so one anon key shared by a whole
    application's visitors does not make them share one quota."""
    if principal.user_id and not principal.anonymous:
        return f"user:{principal.user_id}"
    material = json.dumps(principal.claims, sort_keys=True, default=str) + "|" + (client_address or "")
    return "anon:" + hashlib.sha256(material.encode()).hexdigest()[:32]


def seconds_to_midnight(now: float) -> int:
    """Whole seconds until the next 00:00 UTC (at least 1), when the daily counts start again."""
    moment = datetime.fromtimestamp(now, timezone.utc)
    midnight = datetime.combine(moment.date() + timedelta(days=1), datetime.min.time(), timezone.utc)
    return max(1, math.ceil((midnight - moment).total_seconds()))


class RequestLimits:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time):
        storage = RedisStorage("redis://", connection_pool=client.connection_pool, key_prefix=_PREFIX)
        self._per_minute = MovingWindowRateLimiter(storage)
        self._per_day = FixedWindowRateLimiter(storage)
        self._clock = clock

    def check(self, chatbot_id: str, identity: str, *, per_minute: int, per_day: int,
              conversation_id: str | None = None) -> None:
        """Counts one request, or raises RATE_LIMIT_EXCEEDED / DAILY_LIMIT_EXCEEDED with `retry_after`."""
        minute = RateLimitItemPerMinute(per_minute)
        if not self._per_minute.hit(minute, chatbot_id, identity):
            stats = self._per_minute.get_window_stats(minute, chatbot_id, identity)
            raise ProtocolError(Code.RATE_LIMIT_EXCEEDED, conversation_id=conversation_id,
                                retry_after=max(1, math.ceil(stats.reset_time - time.time())))
        now = self._clock()
        day = datetime.fromtimestamp(now, timezone.utc).date().isoformat()
        if not self._per_day.hit(RateLimitItemPerDay(per_day), chatbot_id, identity, day):
            raise ProtocolError(Code.DAILY_LIMIT_EXCEEDED, conversation_id=conversation_id,
                                retry_after=seconds_to_midnight(now))

    def check_new_conversation(self, identity: str, *, per_minute: int) -> None:
        """Counts one new conversation of this caller (any chatbot), or RATE_LIMIT_EXCEEDED."""
        minute = RateLimitItemPerMinute(per_minute)
        if not self._per_minute.hit(minute, "conversations", identity):
            stats = self._per_minute.get_window_stats(minute, "conversations", identity)
            raise ProtocolError(Code.RATE_LIMIT_EXCEEDED, retry_after=max(1, math.ceil(stats.reset_time - time.time())),
                                limit="conversations")
