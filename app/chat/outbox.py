"""A socket's outgoing events: a bounded queue drained by one sender, so a slow client stalls only itself.

When a client falls further behind than the queue holds, it is closed instead of buffering without
end; it can reconnect and resume from its last seq.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class Outbox:
    def __init__(self, send: Callable[[str], None], on_overflow: Callable[[], None], maxsize: int):
        self._send = send
        self._on_overflow = on_overflow
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._closed = threading.Event()
        self._sender = threading.Thread(target=self._drain, name="ws-sender", daemon=True)
        self._sender.start()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def put(self, event: dict) -> None:
        if self._closed.is_set():
            return
        try:
            self._queue.put_nowait(json.dumps(event, separators=(",", ":"), default=str))
        except queue.Full:
            log.warning("closing a WebSocket whose client fell %d events behind", self._queue.maxsize)
            self.close()
            self._on_overflow()

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
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
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(_STOP)
