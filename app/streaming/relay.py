"""One Redis pub/sub connection per web process, fanned out to every socket that follows a conversation.

A subscription is only reported ready after Redis acknowledged it: a message published before
that is lost (pub/sub keeps nothing), and the chat flow enqueues a turn only once ready.

When the connection drops, messages published meanwhile are lost to pub/sub. After it is back
(redis-py re-subscribes every channel), the relay hands every listener to `on_reconnect`, off
the reader, so the chat side can catch each conversation up from its replay buffer.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import redis

from app.streaming.bus import channel_name, live_message

log = logging.getLogger(__name__)


class Listener(Protocol):
    conversation_id: str

    def on_live(self, event: dict) -> None: ...


class RelayError(Exception):
    """Redis did not acknowledge a subscription in time."""


class Relay:
    def __init__(self, client: redis.Redis, *, ack_timeout: float = 5.0,
                 on_reconnect: Callable[[list[Listener]], None] | None = None):
        # The pool must not ping a subscribed connection: the reader owns every reply on it.
        self._client = client
        self._ack_timeout = ack_timeout
        self._on_reconnect = on_reconnect
        self._lock = threading.Lock()
        self._listeners: dict[str, set[Listener]] = defaultdict(set)
        self._acked: dict[str, threading.Event] = {}
        self._pubsub: redis.client.PubSub | None = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()

    @classmethod
    def from_url(cls, redis_url: str, **kwargs) -> Relay:
        return cls(redis.Redis.from_url(redis_url, decode_responses=True, health_check_interval=0,
                                        socket_connect_timeout=3, client_name="fluxbase-relay"), **kwargs)

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

    def subscribe(self, listener: Listener) -> None:
        """Deliver the conversation's live events to `listener.on_live`; returns once Redis acknowledged."""
        pubsub = self._ensure_started()
        channel = channel_name(listener.conversation_id)
        with self._lock:
            first = not self._listeners[channel]
            self._listeners[channel].add(listener)
            acked = self._acked.setdefault(channel, threading.Event())
            if first:
                try:
                    pubsub.subscribe(channel)
                except redis.RedisError:
                    self._forget(channel, listener)
                    raise
        if not acked.wait(self._ack_timeout):
            self.unsubscribe(listener)
            raise RelayError(f"Redis did not acknowledge the subscription to {channel}")

    def unsubscribe(self, listener: Listener) -> None:
        channel = channel_name(listener.conversation_id)
        with self._lock:
            if self._forget(channel, listener) and self._pubsub is not None:
                # Under the lock, so a subscribe racing in for the same channel is not undone.
                try:
                    self._pubsub.unsubscribe(channel)
                except redis.RedisError:
                    pass  # the connection is gone; redis-py forgets channels it no longer tracks

    def _forget(self, channel: str, listener: Listener) -> bool:
        """Drop the listener; True when it was the channel's last one."""
        listeners = self._listeners.get(channel)
        if not listeners:
            return False
        listeners.discard(listener)
        if listeners:
            return False
        del self._listeners[channel]
        self._acked.pop(channel, None)
        return True

    def listeners(self) -> list[Listener]:
        with self._lock:
            return [listener for group in self._listeners.values() for listener in group]

    def _read_forever(self) -> None:
        assert self._pubsub is not None
        lost = False
        while not self._stopping.is_set():
            try:
                if lost:
                    # redis-py reconnects on the next command and re-issues SUBSCRIBE for every channel.
                    self._pubsub.ping()
                    lost = False
                    self._reconnected()
                message = self._pubsub.get_message(timeout=1.0)
            except Exception:  # any failure here would silently end live delivery for the process
                if self._stopping.is_set():
                    return
                if not lost:
                    log.warning("relay lost its Redis connection; resubscribing")
                lost = True
                self._stopping.wait(0.2)
                continue
            if message is not None:
                self._dispatch(message)

    def _reconnected(self) -> None:
        log.warning("relay reconnected to Redis; catching conversations up")
        if self._on_reconnect is not None:
            listeners = self.listeners()
            threading.Thread(target=self._on_reconnect, args=(listeners,), name="relay-catch-up",
                             daemon=True).start()

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
            event = live_message(message["data"])
        except (TypeError, ValueError):
            log.warning("dropping a malformed event on %s", channel)
            return
        for listener in listeners:
            try:
                listener.on_live(event)
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
