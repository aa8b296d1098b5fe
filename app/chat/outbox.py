"""A socket's outgoing events: a bounded queue drained by one sender, so a slow client stalls only itself.

A client that reads slower than the model writes gets bigger deltas, not a cut: a content delta
queued behind another one of the same message is merged into it (carrying the later seq), so a
long answer takes one queue slot however far behind the client is. A client that falls further
behind than the queue holds in other events, or in bytes, is cut off instead of buffering without
end; it can reconnect and resume from its last seq. `put` never blocks and never writes to the
socket: it runs on the process's shared relay greenlet. Events are serialised by the sender.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from app import protocol
from app.streaming.bus import WireEvent

log = logging.getLogger(__name__)

MAX_QUEUED_BYTES = 32 * 1024 * 1024
# What a queued event costs beyond its text, for the byte bound (an estimate; it need not be exact).
_EVENT_OVERHEAD = 160


def _mergeable(queued: dict, event: dict) -> bool:
    return (queued.get("type") == event.get("type") == protocol.Event.CONTENT
            and queued.get("message_id") == event.get("message_id"))


def _size(event: dict) -> int:
    if isinstance(event, WireEvent):
        return len(event.raw)
    if event.get("type") == protocol.Event.CONTENT:
        return len(event.get("delta", "")) + _EVENT_OVERHEAD
    return len(json.dumps(event, separators=(",", ":"), default=str))


def _text(event: dict) -> str:
    return event.raw if isinstance(event, WireEvent) else json.dumps(event, separators=(",", ":"), default=str)


class _Queued:
    """A queue slot; its event is replaced (never changed in place: other sockets share the dict)."""

    __slots__ = ("event", "size", "published_at")

    def __init__(self, event: dict, size: int):
        self.event = event
        self.size = size  # what it adds to the byte bound, kept so that taking it out is exact
        # When the worker published it (live events only); a merged delta keeps its oldest part's time.
        self.published_at: float | None = getattr(event, "published_at", None)


class Outbox:
    def __init__(self, send: Callable[[str], None], on_overflow: Callable[[], None], maxsize: int,
                 max_bytes: int = MAX_QUEUED_BYTES, on_lag: Callable[[float], None] | None = None):
        self._send = send
        self._on_lag = on_lag  # seconds from the worker's publish to the send, for each live event
        self._on_overflow = on_overflow
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._queue: deque[_Queued] = deque()
        # Each conversation's last queued event: a delta may join it even when other conversations'
        # events were queued after it, since the order between conversations does not matter.
        self._last: dict[str | None, _Queued] = {}
        self._queued_bytes = 0
        self._ready = threading.Condition()
        self._closed = False
        self._sender = threading.Thread(target=self._drain, name="ws-sender", daemon=True)
        self._sender.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: dict) -> None:
        if self._closed:
            return
        size = _size(event)
        conversation = event.get("conversation_id")
        with self._ready:
            last = self._last.get(conversation)
            if last is not None and _mergeable(last.event, event):
                queued = last.event
                last.event = {**queued, **event, "delta": queued.get("delta", "") + event.get("delta", "")}
                last.size += len(event.get("delta", ""))
                self._queued_bytes += len(event.get("delta", ""))
            else:
                slot = _Queued(event, size)
                self._queue.append(slot)
                self._last[conversation] = slot
                self._queued_bytes += size
            if len(self._queue) <= self._maxsize and self._queued_bytes <= self._max_bytes:
                self._ready.notify()
                return
        log.warning("cutting off a WebSocket client that fell too far behind")
        self.close()
        self._on_overflow()

    def _drain(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                slot = self._queue.popleft()
                event = slot.event
                conversation = event.get("conversation_id")
                if self._last.get(conversation) is slot:
                    del self._last[conversation]
                self._queued_bytes -= slot.size
            try:
                self._send(_text(event))
            except Exception:  # the socket is gone; the reader side notices and cleans up
                self._closed = True
                return
            if slot.published_at is not None and self._on_lag is not None:
                self._on_lag(time.time() - slot.published_at)

    def close(self) -> None:
        with self._ready:
            if self._closed:
                return
            self._closed = True
            # Drop what is queued: a closed socket will never read it.
            self._queue.clear()
            self._last.clear()
            self._queued_bytes = 0
            self._ready.notify_all()
