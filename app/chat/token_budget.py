"""`@fluxbase:token-budget`: tokens per (chatbot, caller) per UTC day, reserved before each model call
and settled with what the provider reported after it.

"Check, then charge" overspends: ten concurrent turns each see the whole remainder. Here a call
first reserves what it may use (its prompt and its `max_tokens`, capped to what is left), so
concurrent calls share the remainder instead of each spending it; after the call, the reservation
is replaced by the reported usage and the unused part goes back. One Lua script per step keeps
each atomic on any number of workers.

The ledger of one (chatbot, caller, day) is one Redis hash: `used` (settled tokens) and one field
per open reservation, `r:<id>` = `<tokens>:<held until, unix seconds>`. A reservation whose worker
died is dropped by the next call once its time is up, so the tokens it held come back within
`hold_seconds`. The date is part of the key (the count starts again at 00:00 UTC) and every key
expires a day after its date ended.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

from app.chat.request_limits import seconds_to_midnight
from app.protocol import Code, ProtocolError

_PREFIX = "fluxbase:budget"
# A reservation is held this long past the turn time limit (Celery's hard limit is 60 s past it),
# so only a dead worker's reservation ever lapses.
HOLD_SLACK_SECONDS = 120
# No model call fits in fewer tokens (a prompt and the shortest answer worth asking for): a message
# that would only get this far is refused before it is stored.
SMALLEST_CALL_TOKENS = 64
# A call refused only because other calls' reservations are open waits this long for them to settle
# (they do when their calls end, within seconds) before it gives up, and is told to retry this soon.
CONTENTION_WAIT_SECONDS = 20.0
CONTENTION_RETRY_AFTER = 10

# Drops lapsed reservations, then grants min(wanted, remaining) if at least `minimum` is left.
# ARGV: now, budget, wanted, minimum, reservation id, held until, key ttl. Returns {granted, remaining,
# unsettled}: granted 0 means refused (or, with wanted 0, a look without reserving); `unsettled` is
# the budget less what was settled, which open reservations may still give back. A reservation of
# the same id is being replaced (a retried attempt of the same call), so it does not count as held.
_RESERVE = """
local now = tonumber(ARGV[1])
local fields = redis.call('HGETALL', KEYS[1])
local used, held = 0, 0
for i = 1, #fields, 2 do
  local name, value = fields[i], fields[i + 1]
  if name == 'used' then
    used = tonumber(value)
  elseif name ~= 'r:' .. ARGV[5] then
    local sep = string.find(value, ':', 1, true)
    if tonumber(string.sub(value, sep + 1)) <= now then
      redis.call('HDEL', KEYS[1], name)
    else
      held = held + tonumber(string.sub(value, 1, sep - 1))
    end
  end
end
local remaining = tonumber(ARGV[2]) - used - held
if remaining < tonumber(ARGV[4]) then
  return {0, remaining, tonumber(ARGV[2]) - used}
end
local granted = math.min(tonumber(ARGV[3]), remaining)
if granted > 0 then
  redis.call('HSET', KEYS[1], 'r:' .. ARGV[5], granted .. ':' .. ARGV[6])
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
return {granted, remaining, tonumber(ARGV[2]) - used}
"""

# ARGV: reservation id, tokens used, key ttl.
_SETTLE = """
redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('HINCRBY', KEYS[1], 'used', ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class Reservation:
    key: str
    id: str
    granted: int
    ttl: int


class TokenBudget:
    @classmethod
    def for_turns(cls, client: redis.Redis, turn_timeout_seconds: int) -> TokenBudget:
        return cls(client, hold_seconds=turn_timeout_seconds + HOLD_SLACK_SECONDS)

    def __init__(self, client: redis.Redis, *, hold_seconds: int, clock: Callable[[], float] = time.time,
                 pause: Callable[[float], object] | None = None):
        self._client = client
        self._pause = pause or threading.Event().wait
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._hold = hold_seconds
        self._clock = clock

    def check(self, chatbot_id: str, identity: str, budget: int, *, conversation_id: str | None = None) -> None:
        """Raises TOKEN_BUDGET_EXCEEDED when too little is left today for any call; reserves nothing.
        Open reservations do not count: they may come back, and the worker waits for them."""
        now = self._clock()
        _, _, unsettled = self._call(self._key(chatbot_id, identity, now), now, budget, 0, SMALLEST_CALL_TOKENS, "-")
        if unsettled < SMALLEST_CALL_TOKENS:
            raise self._exceeded(now, conversation_id)

    def reserve(self, chatbot_id: str, identity: str, budget: int, *, wanted: int, minimum: int,
                reservation_id: str | None = None, conversation_id: str | None = None,
                wait_seconds: float = CONTENTION_WAIT_SECONDS) -> Reservation:
        """At most `wanted` tokens, and at least `minimum`, or TOKEN_BUDGET_EXCEEDED. `reservation_id`
        names the call (the same id replaces an earlier reservation: a retry after a dead worker).
        While only open reservations stand in the way, waits up to `wait_seconds` for them to settle."""
        reservation_id = reservation_id or uuid.uuid4().hex
        give_up = time.monotonic() + wait_seconds
        pause = 0.05
        while True:
            now = self._clock()
            key = self._key(chatbot_id, identity, now)
            granted, _, unsettled = self._call(key, now, budget, max(1, wanted), max(1, minimum), reservation_id)
            if granted >= 1:
                return Reservation(key, reservation_id, granted, _key_ttl(now))
            if unsettled < minimum:
                raise self._exceeded(now, conversation_id)
            if time.monotonic() >= give_up:
                # Spent by reservations that have not settled (or a dead worker's, until it lapses).
                raise ProtocolError(Code.TOKEN_BUDGET_EXCEEDED, conversation_id=conversation_id,
                                    retry_after=CONTENTION_RETRY_AFTER)
            self._pause(pause)
            pause = min(pause * 2, 1.0)

    def settle(self, reservation: Reservation, used: int) -> None:
        """Replace the reservation by the tokens really used (more than reserved is charged too)."""
        self._settle(keys=[reservation.key], args=[reservation.id, max(0, int(used)), reservation.ttl])

    def used(self, chatbot_id: str, identity: str) -> tuple[int, int]:
        """(settled, reserved) tokens today: for tests and admins."""
        now = self._clock()
        fields = self._client.hgetall(self._key(chatbot_id, identity, now))
        settled = reserved = 0
        for name, value in fields.items():
            name, value = _text(name), _text(value)
            if name == "used":
                settled = int(value)
            else:
                tokens, until = value.split(":")
                reserved += int(tokens) if float(until) > now else 0
        return settled, reserved

    def _call(self, key: str, now: float, budget: int, wanted: int, minimum: int,
              reservation_id: str) -> tuple[int, int, int]:
        granted, remaining, unsettled = self._reserve(
            keys=[key], args=[int(now), budget, wanted, minimum, reservation_id, int(now) + self._hold,
                              _key_ttl(now)])
        return int(granted), int(remaining), int(unsettled)

    def _key(self, chatbot_id: str, identity: str, now: float) -> str:
        day = datetime.fromtimestamp(now, timezone.utc).date().isoformat()
        return f"{_PREFIX}:{chatbot_id}:{identity}:{day}"

    def _exceeded(self, now: float, conversation_id: str | None) -> ProtocolError:
        return ProtocolError(Code.TOKEN_BUDGET_EXCEEDED, conversation_id=conversation_id,
                             retry_after=seconds_to_midnight(now))


def _key_ttl(now: float) -> int:
    # The rest of the day, and one more: a call that began before midnight settles into its own day.
    return seconds_to_midnight(now) + 86400


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
