"""The stream bus: `publish` numbers an event and sends it live; `replay` returns what a client missed.

Each conversation has a sequence counter, a Redis Stream holding the events of its latest turn
(stream ids are `<seq>-0`, so "everything after seq N" is one XRANGE; a turn's first event trims
the turns before it), and a pub/sub channel for live delivery.

Numbers never go backwards. Every publisher passes the highest seq it knows of (`floor`: the
worker's last published seq, or the conversation's last seq kept in PostgreSQL), and the counter
is raised to it before it is incremented. So a counter Redis lost (a restart, its TTL) continues
above everything a client may have seen, and a stale floor from another publisher cannot pull it
down.
Numbering, storing and publishing happen in one Lua script, so two publishers can never interleave
a seq with another's payload, and a subscriber never sees seq N+1 before N is stored.

The stream may keep a smaller copy than what goes live: a `query_result` whose rows exceed
`replay_result_bytes` is stored with as many whole rows as fit, marked `replay_truncated` with
`rows_kept` (a 1 MiB result kept for 24 h per conversation is memory anyone who can ask a question
can make the server hold). Live subscribers get every row; the script takes both bodies, so both
carry the same seq. Events that fit are encoded once and stored as sent.

The live copy is preceded by the publisher's clock (`<unix seconds> {"seq":...}`), for the relay-lag
metric (app/metrics.py): the relay takes it off (`live_message`), so clients never see it, and the
replay buffer never holds it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

from app import protocol

_PUBLISH = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[6])
if current < floor then
  redis.call('SET', KEYS[1], floor)
end
local seq = redis.call('INCR', KEYS[1])
local body = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
local kept = body
if ARGV[7] ~= '' then
  kept = '{"seq":' .. seq .. ',' .. string.sub(ARGV[7], 2)
end
if ARGV[4] == '1' then
  redis.call('XTRIM', KEYS[2], 'MINID', seq .. '-0')
  redis.call('SET', KEYS[3], seq, 'EX', ARGV[3])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], seq .. '-0', 'e', kept)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
redis.call('PUBLISH', ARGV[5], ARGV[8] .. body)
return seq
"""


_RAISE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def channel_name(conversation_id: str) -> str:
    return f"fluxbase:conv:{conversation_id}:live"


# How far past what PostgreSQL last noted a conversation's numbering may have gone: a running
# turn notes its highest seq with each lease renewal, every two seconds (two seconds of a fast stream).
UNRECORDED_SEQ_SLACK = 1000


@dataclass(frozen=True)
class _Keys:
    seq: str
    stream: str
    turn_start: str


def _keys(conversation_id: str) -> _Keys:
    # One hash tag per conversation keeps the three keys in one slot on Redis Cluster.
    tag = f"fluxbase:conv:{{{conversation_id}}}"
    return _Keys(f"{tag}:seq", f"{tag}:events", f"{tag}:turn_start")


class WireEvent(dict):
    """An event as it came off the wire, with the JSON text it came in: sent on unchanged, it need not
    be encoded again for every socket (at 20,000 events a second, that was a tenth of the relay's CPU).
    `published_at`: the publisher's time.time() at publish, when the message said."""

    __slots__ = ("raw", "published_at")

    def __init__(self, raw: str, published_at: float | None = None):
        super().__init__(json.loads(raw))
        self.raw = raw
        self.published_at = published_at


def live_message(data: str) -> WireEvent:
    """A pub/sub message as the relay receives it: the publish time in front, then the event's JSON.
    Raises ValueError (or TypeError) for anything else."""
    stamp = None
    if not data.startswith("{"):
        head, _, data = data.partition(" ")
        stamp = float(head)
    return WireEvent(data, stamp)


@dataclass(frozen=True)
class Replay:
    events: list[dict]
    complete: bool  # False: the buffer cannot show it holds everything asked for (Redis lost some)


def _decode(entries) -> list[dict]:
    return [json.loads(fields["e"] if "e" in fields else fields[b"e"]) for _id, fields in entries]


def _encode(value) -> str:
    # ASCII-only (json's default), so a string's length is its size in bytes.
    return json.dumps(value, separators=(",", ":"), default=str)


def replay_copy(event: dict, limit: int) -> dict | None:
    """The copy of a `query_result` the replay buffer keeps: as many whole rows as fit in `limit`
    bytes of JSON, saying so; None when every row fits (the event is kept as sent)."""
    rows = event.get("data")
    if event.get("type") != protocol.Event.QUERY_RESULT or not isinstance(rows, list):
        return None
    size = 2  # the brackets
    kept = 0
    for row in rows:  # stops at the limit: a huge result costs no more than `limit` bytes of encoding
        size += len(_encode(row)) + (1 if kept else 0)
        if size > limit:
            break
        kept += 1
    else:
        return None
    return {**event, "data": rows[:kept], "truncated": True, "replay_truncated": True, "rows_kept": kept}


class StreamBus:
    def __init__(self, client: redis.Redis, *, max_events: int = 5000, ttl_seconds: int = 86400,
                 replay_result_bytes: int = 65536):
        self._client = client
        self._max_events = max_events
        self._ttl = ttl_seconds
        self._replay_result_bytes = replay_result_bytes
        self._publish = client.register_script(_PUBLISH)
        self._raise = client.register_script(_RAISE)

    def publish(self, conversation_id: str, event: dict, *, turn_start: bool = False, floor: int = 0) -> int:
        """Number `event`, keep it for replay and send it live; returns its seq (always > floor).

        `turn_start` marks the first event of a turn: replay never goes back further than that.
        A large `query_result` is kept for replay with fewer rows (`replay_copy`); live, it goes whole.
        Raises redis.RedisError when Redis cannot be reached.
        """
        payload = _encode({"conversation_id": conversation_id, **event})
        stored = ""  # the script keeps `payload` itself
        # The whole event fitting means its rows do: the common case costs one length check.
        if len(payload) > self._replay_result_bytes:
            copy = replay_copy(event, self._replay_result_bytes)
            if copy is not None:
                stored = _encode({"conversation_id": conversation_id, **copy})
        keys = _keys(conversation_id)
        return int(self._publish(keys=[keys.seq, keys.stream, keys.turn_start],
                                 args=[payload, self._max_events, self._ttl, "1" if turn_start else "0",
                                       channel_name(conversation_id), floor, stored, f"{time.time():.6f} "]))

    def current_seq(self, conversation_id: str) -> int:
        return self.counter(conversation_id) or 0

    def counter(self, conversation_id: str) -> int | None:
        """The conversation's counter, or None when Redis has none (never published, or lost)."""
        value = self._client.get(_keys(conversation_id).seq)
        return int(value) if value else None

    def raise_counter(self, conversation_id: str, seq: int) -> None:
        """Number what comes next above `seq` (a position a client proved it reached)."""
        self._raise(keys=[_keys(conversation_id).seq], args=[seq, self._ttl])

    def replay(self, conversation_id: str, after_seq: int | None) -> Replay:
        """Events of the latest turn with seq > after_seq (all of the latest turn if after_seq is None
        or older than the turn's start)."""
        keys = _keys(conversation_id)
        pipe = self._client.pipeline(transaction=False)
        pipe.get(keys.turn_start)
        pipe.xrange(keys.stream, "-", "+", count=1)
        turn_start, first = pipe.execute()
        if turn_start is None:
            # No turn start known: either nothing was ever published, or Redis lost the marker
            # (a restart mid-turn) and what the stream holds may not be the whole turn.
            if not first:
                return Replay([], True)
            events = self.range(conversation_id, (after_seq or 0) + 1)
            return Replay(events, False)
        start = int(turn_start)
        if after_seq is not None and after_seq >= start:
            start = after_seq + 1
        events = self.range(conversation_id, start)
        # MAXLEN trimming (a very long turn) can drop the oldest events of the turn itself.
        complete = not events or events[0]["seq"] == start
        return Replay(events, complete)

    def range(self, conversation_id: str, first_seq: int, last_seq: int | None = None) -> list[dict]:
        end = "+" if last_seq is None else f"{last_seq}-0"
        return _decode(self._client.xrange(_keys(conversation_id).stream, f"{first_seq}-0", end))

    def ranges_after(self, positions: list[tuple[str, int]]) -> list[list[dict]]:
        """For each (conversation, seq), the kept events after that seq; one round trip."""
        pipe = self._client.pipeline(transaction=False)
        for conversation_id, after in positions:
            pipe.xrange(_keys(conversation_id).stream, f"{after + 1}-0", "+")
        return [_decode(entries) for entries in pipe.execute()]

    def forget(self, conversation_ids: list[str]) -> None:
        """Drop what Redis keeps of these conversations (deleted or expired); one round trip. One DEL
        per conversation: its keys share a hash slot, different conversations' need not."""
        if not conversation_ids:
            return
        pipe = self._client.pipeline(transaction=False)
        for conversation_id in conversation_ids:
            keys = _keys(conversation_id)
            pipe.delete(keys.seq, keys.stream, keys.turn_start)
        pipe.execute()
