"""The stream bus: `publish` numbers an event and sends it live; `replay` returns what a client missed.

Each conversation has a sequence counter, a Redis Stream holding the events of its latest turn
(stream ids are `<seq>-0`, so "everything after seq N" is one XRANGE; a turn's first event trims
the turns before it), and a pub/sub channel for live delivery. A counter that Redis has forgotten
(its TTL ran out) restarts from the floor the caller passes: the conversation's last seq kept in
PostgreSQL, so numbers never go backwards.
Numbering, storing and publishing happen in one Lua script, so two publishers can never interleave
a seq with another's payload, and a subscriber never sees seq N+1 before N is stored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import redis

_PUBLISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[6])
end
local seq = redis.call('INCR', KEYS[1])
local body = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
if ARGV[4] == '1' then
  redis.call('XTRIM', KEYS[2], 'MINID', seq .. '-0')
  redis.call('SET', KEYS[3], seq, 'EX', ARGV[3])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'e', body)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('PUBLISH', ARGV[5], body)
return seq
"""



def channel_name(conversation_id: str) -> str:
    return f"fluxbase:conv:{conversation_id}:live"


@dataclass(frozen=True)
class _Keys:
    seq: str
    stream: str
    turn_start: str


def _keys(conversation_id: str) -> _Keys:
    # One hash tag per conversation keeps the three keys in one slot on Redis Cluster.
    tag = f"fluxbase:conv:{{{conversation_id}}}"
    return _Keys(f"{tag}:seq", f"{tag}:events", f"{tag}:turn_start")


class StreamBus:
    def __init__(self, client: redis.Redis, *, max_events: int = 5000, ttl_seconds: int = 86400):
        self._client = client
        self._max_events = max_events
        self._ttl = ttl_seconds
        self._publish = client.register_script(_PUBLISH)

    def publish(self, conversation_id: str, event: dict, *, turn_start: bool = False, floor: int = 0) -> int:
        """Number `event`, keep it for replay and send it live; returns its seq.

        `turn_start` marks the first event of a turn: replay never goes back further than that.
        """
        payload = json.dumps({"conversation_id": conversation_id, **event}, separators=(",", ":"), default=str)
        keys = _keys(conversation_id)
        return int(self._publish(keys=[keys.seq, keys.stream, keys.turn_start],
                                 args=[payload, self._max_events, self._ttl, "1" if turn_start else "0",
                                       channel_name(conversation_id), floor]))

    def current_seq(self, conversation_id: str) -> int:
        value = self._client.get(_keys(conversation_id).seq)
        return int(value) if value else 0

    def replay(self, conversation_id: str, after_seq: int | None) -> list[dict]:
        """Events of the latest turn with seq > after_seq (all of the latest turn if after_seq is None
        or older than what is kept)."""
        keys = _keys(conversation_id)
        turn_start = self._client.get(keys.turn_start)
        if turn_start is None:
            return []
        start = int(turn_start)
        if after_seq is not None and after_seq >= start:
            start = after_seq + 1
        return self.range(conversation_id, start)

    def range(self, conversation_id: str, first_seq: int, last_seq: int | None = None) -> list[dict]:
        end = "+" if last_seq is None else f"{last_seq}-0"
        entries = self._client.xrange(_keys(conversation_id).stream, f"{first_seq}-0", end)
        return [json.loads(fields["e"] if "e" in fields else fields[b"e"]) for _id, fields in entries]
