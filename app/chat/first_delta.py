"""Time to first delta, as the user waits for it: from the `message` frame a socket sent to the first
content delta of that turn's answer on the same socket (queueing, planning and the provider included)."""
from __future__ import annotations

import time
from collections.abc import Callable

from app import protocol


class FirstDeltaClock:
    """Stands between a conversation's feed and the socket's outbox; one check per event when idle."""

    def __init__(self, deliver: Callable[[dict], None], observe: Callable[[float], None]):
        self._deliver = deliver
        self._observe = observe
        self._message_id: str | None = None
        self._since = 0.0

    def start(self, message_id: str) -> None:
        """The turn answering in `message_id` was just sent to the workers."""
        self._since = time.monotonic()
        self._message_id = message_id

    def stop(self) -> None:
        self._message_id = None

    def __call__(self, event: dict) -> None:
        waiting = self._message_id
        if waiting is not None and event.get("message_id") == waiting:
            kind = event.get("type")
            if kind == protocol.Event.CONTENT:
                self._message_id = None
                self._observe(time.monotonic() - self._since)
            elif protocol.is_ending(event):
                self._message_id = None  # ended without a word (an error, a cancel): nothing to measure
        self._deliver(event)
