"""One socket's view of one conversation: replayed events first, then live ones, none twice, no loss unsaid.

Live events that arrive while the replay is being read are held back, then released in order;
anything at or below the last delivered seq is dropped, so the overlap is harmless. A live event
that skips numbers (pub/sub lost some while Redis reconnected) makes the feed fetch the missing
ones from the replay buffer first.

When events are gone for good (Redis restarted and lost them), the client is told with an
`events_lost` event, and the affected turn's ending is delivered with `content`: the whole answer
as stored in PostgreSQL, so the client can replace what it showed. If the lost events included a
turn's ending (the next turn's events arrive while the earlier turn is still open), that ending is
rebuilt from PostgreSQL before the next turn's events are delivered.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from app import protocol
from app.streaming.bus import Replay

log = logging.getLogger(__name__)

Recover = Callable[[str], "dict | None"]  # message id -> the stored ending with `content`, or None


def _spawn(target: Callable[[], None]) -> None:
    # Recovery reads PostgreSQL; it must not run on the relay's shared reader.
    threading.Thread(target=target, name="feed-recover", daemon=True).start()


class Feed:
    def __init__(self, conversation_id: str, deliver: Callable[[dict], None],
                 fetch_range: Callable[[int, int], list[dict]], recover: Recover,
                 spawn: Callable[[Callable[[], None]], None] = _spawn):
        self.conversation_id = conversation_id
        self._deliver = deliver
        self._fetch_range = fetch_range
        self._recover = recover
        self._spawn = spawn
        self._lock = threading.Lock()
        self._live = False
        self._recovering = False
        self._held: list[dict] = []
        self._last_seq: int | None = None
        self._lost_through = 0              # losses up to this seq have been reported already
        self._open: str | None = None       # message id of the turn in progress, as this socket saw it
        self._lossy: set[str] = set()       # turns that lost events: their ending carries the stored answer

    @property
    def last_seq(self) -> int | None:
        return self._last_seq

    def on_live(self, event: dict) -> None:
        with self._lock:
            if not self._live or self._recovering:
                self._held.append(event)
                return
            self._forward(event, fill_gaps=True)

    def go_live(self, replay: Replay, after_seq: int | None, known_through: int | None = None,
                latest_message: str | None = None) -> None:
        """Deliver the replay, then what arrived meanwhile; `after_seq` is where the client stands,
        `known_through` the highest seq the server knows the conversation used, `latest_message`
        the message of its latest turn."""
        with self._lock:
            events = sorted(replay.events, key=lambda e: e["seq"])
            self._last_seq = events[0]["seq"] - 1 if events else after_seq
            if not replay.complete and events:
                first = after_seq + 1 if after_seq is not None and after_seq < events[0]["seq"] - 1 else None
                self._lost(first, events[0]["seq"] - 1 if first is not None else None, events[0])
            elif not events and after_seq is not None and known_through is not None and after_seq < known_through:
                # The client is behind what was published, and the buffer has none of it: Redis lost it.
                self._last_seq = known_through  # where chat_started put the client
                self._lost(after_seq + 1, known_through, {"message_id": latest_message})
                if latest_message:
                    self._start_recovery(latest_message, None)  # its ending, if it has ended
            self._held = events + self._held
            self._live = True
            self._release()

    def catch_up(self, events: list[dict]) -> None:
        """After the relay reconnected: what the buffer holds past our position. A gap here is a loss."""
        with self._lock:
            if not self._live or self._recovering:
                self._held.extend(events)
                return
            for event in sorted(events, key=lambda e: e["seq"]):
                self._forward(event, fill_gaps=False)
                if self._recovering:
                    self._held.extend(e for e in events if e["seq"] > event["seq"])
                    return

    # -- under the lock ----------------------------------------------------------------------------

    def _release(self) -> None:
        while self._held and not self._recovering:
            self._held.sort(key=lambda e: e["seq"] if isinstance(e.get("seq"), int) else -1)
            self._forward(self._held.pop(0), fill_gaps=True)

    def _forward(self, event: dict, *, fill_gaps: bool) -> None:
        seq = event.get("seq")
        if not isinstance(seq, int):
            return
        last = self._last_seq
        if last is not None:
            if seq <= last:
                return
            if seq > last + 1 and fill_gaps:
                # What the buffer still has goes first; a hole it cannot fill is reported below.
                for missing in self._fetch_range(last + 1, seq - 1):
                    if self._recovering:
                        self._held.append(missing)
                    else:
                        self._forward(missing, fill_gaps=False)
                if self._recovering:
                    self._held.append(event)
                    return
            if self._last_seq < seq - 1 and self._lost_through < seq - 1:
                self._lost(max(self._last_seq, self._lost_through) + 1, seq - 1, event)
        self._accept(event)

    def _accept(self, event: dict) -> None:
        message_id = event.get("message_id")
        if self._open is not None and message_id != self._open:
            # A new turn while the previous one never ended here: its ending was lost with the gap.
            stale, self._open = self._open, None
            self._held.append(event)
            self._start_recovery(stale, None)
            return
        if event.get("type") == protocol.Event.EVENTS_LOST and message_id:
            self._lossy.add(message_id)
        if protocol.is_ending(event):
            self._open = None
            if message_id in self._lossy and "content" not in event:
                self._start_recovery(message_id, event)
                return
            self._lossy.discard(message_id)
        elif message_id:
            self._open = message_id
        self._last_seq = event["seq"]
        self._deliver(event)

    def _lost(self, first: int | None, last: int | None, following: dict) -> None:
        if last is not None:
            self._lost_through = max(self._lost_through, last)
        message_id = following.get("message_id")
        for lossy in (self._open, message_id):
            if lossy:
                self._lossy.add(lossy)
        self._deliver({**protocol.events_lost(first, last, message_id or self._open),
                       "conversation_id": self.conversation_id, "seq": self._last_seq or 0})

    def _start_recovery(self, message_id: str, live_ending: dict | None) -> None:
        self._recovering = True
        self._spawn(lambda: self._finish_recovery(message_id, live_ending))

    def _finish_recovery(self, message_id: str, live_ending: dict | None) -> None:
        try:
            stored = self._recover(message_id)
        except Exception:  # the client still gets the ending it would have had
            log.exception("could not recover the stored answer of message %s", message_id)
            stored = None
        with self._lock:
            self._lossy.discard(message_id)
            if live_ending is not None:
                ending = dict(live_ending)
                if stored is not None:
                    ending.update(content=stored.get("content", ""), recovered=True)
                self._last_seq = ending["seq"]
                self._deliver(ending)
            elif stored is not None:
                # Rebuilt, so it takes no number of its own: it carries the seq of what it follows.
                self._deliver({**stored, "conversation_id": self.conversation_id, "seq": self._last_seq or 0})
            self._recovering = False
            self._release()
