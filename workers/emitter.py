"""Publishing one attempt's events: numbered above everything the conversation has seen, and never
stopping the turn when Redis is away.

Each event is published with the highest seq this attempt knows of as the floor, so after a Redis
restart numbering continues where the client stands instead of reusing numbers it has seen.
While Redis cannot be reached, events are dropped (the turn goes on, and PostgreSQL gets the whole
answer); the first event that gets through afterwards is preceded by `events_lost`, so the
client knows and gets the stored answer with the ending. The ending itself is retried for a while;
if it never gets through, housekeeping publishes it later (app/chat/turns.py, ending_seq).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import redis

from app import protocol
from app.secrets.scrub import NO_SECRETS, Scrubber
from app.streaming.bus import UNRECORDED_SEQ_SLACK, StreamBus

log = logging.getLogger(__name__)

# After a failed publish, skip Redis for this long instead of stalling the stream on every delta.
RETRY_INTERVAL_SECONDS = 0.5
# How long the ending is retried before it is left to housekeeping (keep well under its grace).
ENDING_RETRY_SECONDS = 20.0


def starting_floor(bus: StreamBus, conversation_id: str, conversation_last_seq: int, published_seq: int,
                   attempt: int) -> int:
    """Where an attempt's numbering starts: above every seq the conversation may have shown a client.

    Redis's counter knows; when Redis has lost it (a restart) after an earlier attempt of this turn
    published, that attempt's durable note can be up to one renewal behind, so the retry starts
    UNRECORDED_SEQ_SLACK above it: clients see a gap (reported, and repaired by the stored answer)
    instead of numbers they have seen already.
    """
    floor = max(conversation_last_seq, published_seq)
    # Even with nothing noted yet: an attempt can die before its first note, two seconds in.
    if attempt > 1:
        try:
            lost = bus.counter(conversation_id) is None
        except redis.RedisError:
            lost = True
        if lost:
            floor += UNRECORDED_SEQ_SLACK
    return floor


class ResultBudget:
    """The result data (rows, tool output) one turn sends to clients, in JSON bytes.

    Past it, a result arrives without its data and marked `truncated`: the client's socket buffer,
    the replay buffer in Redis and every resume read the turn whole, so a turn must stay bounded."""

    _KINDS = {protocol.Event.QUERY_RESULT: [], protocol.Event.TOOL_RESULT: None}

    def __init__(self, limit: int):
        self._left = limit

    def apply(self, event: dict) -> dict:
        kind = event.get("type")
        if kind not in self._KINDS or not event.get("data"):
            return event
        size = len(json.dumps(event["data"], separators=(",", ":"), default=str))
        if size <= self._left:
            self._left -= size
            return event
        trimmed = {**event, "truncated": True}
        if self._KINDS[kind] is None:
            trimmed.pop("data")
        else:
            trimmed["data"] = []
        return trimmed


class TurnEmitter:
    def __init__(self, bus: StreamBus, conversation_id: str, message_id: str, floor: int,
                 result_budget: ResultBudget | None = None, on_published: Callable[[int], None] | None = None):
        self._bus = bus
        self._budget = result_budget
        self._on_published = on_published
        self._conversation_id = conversation_id
        self._message_id = message_id
        self._lock = threading.Lock()  # tools run in parallel and emit from several greenlets
        self._first = True
        self._dropped = 0
        self._lost = False
        self._retry_at = 0.0
        self._wait = threading.Event()
        self._scrubber = NO_SECRETS
        self.last_seq = floor

    def scrub_with(self, scrubber: Scrubber) -> None:
        """From now on every event goes out with the turn's known secret values taken out (its plan
        knows them; events before it, the restart note, carry none)."""
        self._scrubber = scrubber

    def __call__(self, event: dict) -> None:
        """Best effort: a client event that cannot be published now is dropped and reported."""
        with self._lock:
            if self._dropped and time.monotonic() < self._retry_at:
                self._dropped += 1
                return
            event = self._scrubber.event(event)
            if self._budget is not None:
                event = self._budget.apply(event)
            try:
                self._flush_loss()
                self._publish(event)
            except redis.RedisError as exc:
                self._note_drop(exc)

    def finish(self, ending: dict, retry_seconds: float = ENDING_RETRY_SECONDS) -> int | None:
        """Publish the ending, retrying while Redis is away; its seq, or None if it never got through."""
        deadline = time.monotonic() + retry_seconds
        pause = 0.1
        ending = self._scrubber.event(ending)
        while True:
            with self._lock:
                try:
                    self._flush_loss()
                    return self._publish(ending)
                except redis.RedisError as exc:
                    log.warning("could not publish the ending of message %s yet: %s", self._message_id, exc)
            if time.monotonic() + pause > deadline:
                log.warning("the ending of message %s could not be published; housekeeping will", self._message_id)
                return None
            self._wait.wait(pause)
            pause = min(pause * 2, 2.0)

    @property
    def lost_events(self) -> bool:
        """Whether any event of this attempt could not be published (clients then get the stored answer)."""
        return self._lost or self._dropped > 0

    def _flush_loss(self) -> None:
        if self._dropped:
            self._lost = True
            self._publish(protocol.events_lost(None, None, self._message_id))
            log.warning("published events_lost for message %s after %d dropped event(s)",
                        self._message_id, self._dropped)
            self._dropped = 0

    def _publish(self, event: dict) -> int:
        seq = self._bus.publish(self._conversation_id, {**event, "message_id": self._message_id},
                                turn_start=self._first, floor=self.last_seq)
        self._first = False
        self.last_seq = max(self.last_seq, seq)
        if self._on_published is not None:
            self._on_published(self.last_seq)
        return seq

    def _note_drop(self, exc: Exception) -> None:
        if not self._dropped:
            log.warning("Redis unavailable, dropping events of message %s: %s", self._message_id, exc)
        self._dropped += 1
        self._retry_at = time.monotonic() + RETRY_INTERVAL_SECONDS
