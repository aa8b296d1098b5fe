"""One Redis pub/sub connection per web process, fanned out to every socket that follows a conversation.

A subscription is only reported ready after Redis acknowledged it: a message published before
that is lost (pub/sub keeps nothing), and the chat flow enqueues a turn only once ready.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable

import redis

from app.streaming.bus import channel_name

log = logging.getLogger(__name__)

Listener = Callable[[dict], None]


class RelayError(Exception):
    """Redis did not acknowledge a subscription in time."""


class Relay:
    def __init__(self, redis_url: str, *, ack_timeout: float = 5.0):
        # No health-check pings on a subscribed connection: the reader owns every reply on it.
        self._client = redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=0)
        self._ack_timeout = ack_timeout
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._acked: dict[str, threading.Event] = {}
        self._pubsub: redis.client.PubSub | None = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()

    def _ensure_started(self) -> redis.client.PubSub:
        with self._lock:
            if self._pubsub is None:
                pubsub = self._client.pubsub(ignore_subscribe_messages=False)
                # A private channel opens the connection, so the reader always has something to read.
                pubsub.subscribe(f"fluxbase:relay:{uuid.uuid4()}")
                self._pubsub = pubsub
                self._reader = threading.Thread(target=self._read_forever, name="relay-reader", daemon=True)
                self._reader.start()
            return self._pubsub

    def subscribe(self, conversation_id: str, listener: Listener) -> None:
        """Deliver the conversation's live events to `listener`; returns once Redis acknowledged."""
        pubsub = self._ensure_started()
        channel = channel_name(conversation_id)
        with self._lock:
            first = not self._listeners[channel]
            self._listeners[channel].add(listener)
            acked = self._acked.setdefault(channel, threading.Event())
            if first:
                pubsub.subscribe(channel)
        if not acked.wait(self._ack_timeout):
            self.unsubscribe(conversation_id, listener)
            raise RelayError(f"Redis did not acknowledge the subscription to {channel}")

    def unsubscribe(self, conversation_id: str, listener: Listener) -> None:
        channel = channel_name(conversation_id)
        with self._lock:
            listeners = self._listeners.get(channel)
            if not listeners:
                return
            listeners.discard(listener)
            if listeners:
                return
            del self._listeners[channel]
            self._acked.pop(channel, None)
            # Under the lock, so a subscribe racing in for the same channel is not undone.
            if self._pubsub is not None:
                self._pubsub.unsubscribe(channel)

    def _read_forever(self) -> None:
        assert self._pubsub is not None
        while not self._stopping.is_set():
            try:
                message = self._pubsub.get_message(timeout=1.0)
            except Exception:  # any failure here would silently end live delivery for the process
                if self._stopping.is_set():
                    return
                log.exception("relay lost its Redis connection; resubscribing")
                self._resubscribe()
                continue
            if message is not None:
                self._dispatch(message)

    def _resubscribe(self) -> None:
        # redis-py reconnects on the next command and re-issues SUBSCRIBE for known channels.
        try:
            self._pubsub.ping()
        except redis.RedisError:
            self._stopping.wait(0.5)

    def _dispatch(self, message: dict) -> None:
        channel = message.get("channel")
        kind = message.get("type")
        if kind == "subscribe":
            with self._lock:
                event = self._acked.get(channel)
            if event is not None:
                event.set()
            return
        if kind != "message":
            return
        with self._lock:
            listeners = list(self._listeners.get(channel, ()))
        if not listeners:
            return
        try:
            event = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("dropping a malformed event on %s", channel)
            return
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # one broken socket must not stop delivery to the others
                log.exception("listener failed")

    def close(self) -> None:
        self._stopping.set()
        if self._reader is not None:
            self._reader.join(timeout=3)  # it wakes at least once a second to see the flag
        with self._lock:
            pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError:
                pass
        self._client.close()
