"""One socket's view of one conversation: replayed events first, then live ones, none twice.

Live events that arrive while the replay is being read are held back, then released in order;
anything at or below the last delivered seq is dropped, so the overlap is harmless. A live event
that skips numbers (pub/sub lost some while Redis reconnected) makes the feed fetch the missing
ones from the replay buffer first.
"""
from __future__ import annotations

import threading
from collections.abc import Callable


class Feed:
    def __init__(self, conversation_id: str, deliver: Callable[[dict], None],
                 fetch_range: Callable[[int, int], list[dict]]):
        self.conversation_id = conversation_id
        self._deliver = deliver
        self._fetch_range = fetch_range
        self._lock = threading.Lock()
        self._live = False
        self._held: list[dict] = []
        self._last_seq: int | None = None

    def on_live(self, event: dict) -> None:
        with self._lock:
            if not self._live:
                self._held.append(event)
                return
            self._forward(event, fill_gaps=True)

    def go_live(self, replayed: list[dict], after_seq: int | None) -> None:
        """Deliver the replay, then what arrived meanwhile; `after_seq` is where the client stands."""
        with self._lock:
            replayed = sorted(replayed, key=lambda e: e["seq"])
            self._last_seq = replayed[0]["seq"] - 1 if replayed else after_seq
            for event in replayed:
                self._forward(event, fill_gaps=False)
            for event in sorted(self._held, key=lambda e: e["seq"]):
                self._forward(event, fill_gaps=True)
            self._held = []
            self._live = True

    def _forward(self, event: dict, *, fill_gaps: bool) -> None:
        seq = event.get("seq")
        if not isinstance(seq, int):
            return
        last = self._last_seq
        if last is not None:
            if seq <= last:
                return
            if fill_gaps and seq > last + 1:
                for missing in self._fetch_range(last + 1, seq - 1):
                    if missing["seq"] > self._last_seq:
                        self._last_seq = missing["seq"]
                        self._deliver(missing)
        self._last_seq = seq
        self._deliver(event)
