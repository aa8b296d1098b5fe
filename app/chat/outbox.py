"""A socket's outgoing events: a bounded queue drained by one sender, so a slow client stalls only itself.

When a client falls further behind than the queue holds (in events or in bytes), it is cut off
instead of buffering without end; it can reconnect and resume from its last seq. `put` never
blocks and never writes to the socket: it runs on the process's shared relay greenlet.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()
MAX_QUEUED_BYTES = 32 * 1024 * 1024


class Outbox:
    def __init__(self, send: Callable[[str], None], on_overflow: Callable[[], None], maxsize: int,
                 max_bytes: int = MAX_QUEUED_BYTES):
        self._send = send
        self._on_overflow = on_overflow
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._max_bytes = max_bytes
        self._queued_bytes = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sender = threading.Thread(target=self._drain, name="ws-sender", daemon=True)
        self._sender.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def put(self, event: dict) -> None:
        if self._closed.is_set():
            return
        text = json.dumps(event, separators=(",", ":"), default=str)
        with self._lock:
            over_bytes = self._queued_bytes + len(text) > self._max_bytes
            if not over_bytes:
                try:
                    self._queue.put_nowait(text)
                    self._queued_bytes += len(text)
                    return
                except queue.Full:
                    pass
        log.warning("cutting off a WebSocket client that fell too far behind")
        self.close()
        self._on_overflow()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            with self._lock:
                self._queued_bytes -= len(item)
            try:
                self._send(item)
            except Exception:  # the socket is gone; the reader side notices and cleans up
                self._closed.set()
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # Drop what is queued so the stop marker fits even in a full queue.
        with self._lock:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._queued_bytes = 0
        self._queue.put_nowait(_STOP)
