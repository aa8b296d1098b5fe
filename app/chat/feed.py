"""One socket's view of one conversation: replayed events first, then live ones, none twice.

Live events that arrive while the replay is being read are held back, then released in order;
anything at or below the last delivered seq is dropped, so the overlap is harmless.
"""
from __future__ import annotations

import threading
from collections.abc import Callable


class Feed:
    def __init__(self, conversation_id: str, deliver: Callable[[dict], None]):
        self.conversation_id = conversation_id
        self._deliver = deliver
        self._lock = threading.Lock()
        self._live = False
        self._held: list[dict] = []
        self._last_seq: int | None = None

    def on_live(self, event: dict) -> None:
        with self._lock:
            if not self._live:
                self._held.append(event)
                return
            self._forward(event)

    def go_live(self, replayed: list[dict], after_seq: int | None) -> None:
        with self._lock:
            self._last_seq = after_seq
            for event in sorted(replayed, key=lambda e: e["seq"]):
                self._forward(event)
            for event in sorted(self._held, key=lambda e: e["seq"]):
                self._forward(event)
            self._held = []
            self._live = True

    def _forward(self, event: dict) -> None:
        seq = event.get("seq")
        if self._last_seq is not None and isinstance(seq, int) and seq <= self._last_seq:
            return
        if isinstance(seq, int):
            self._last_seq = seq
        self._deliver(event)
