"""Where a client stands in one conversation, so that no event reaches it twice whatever the
reconnects, and a resume asks for exactly what it missed (docs/chat.md, "Resume").

The server numbers every event of a conversation's turns with `seq`. Events only one socket sees
take no number of their own and carry the seq of what they follow: `chat_started` (whose seq is
where the socket now stands, so it is adopted), `events_lost`, a refused frame's `error` (no
`message_id`), and an ending rebuilt from storage (`recovered: true`). Those are never dropped for
their seq; an ending is dropped only when one for the same message was already delivered.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

ENDINGS = frozenset({"done", "cancelled", "error"})
_REMEMBERED_ENDINGS = 64


def _is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


class Cursor:
    def __init__(self, last_seq: int | None = None):
        self.last_seq = last_seq          # highest seq delivered or adopted; sent as `last_seq` on a resume
        self.open_message: str | None = None  # the message of the turn streaming now, None between turns
        self._ended: deque[str] = deque(maxlen=_REMEMBERED_ENDINGS)

    def started(self, seq: Any, sent_last_seq: int | None) -> None:
        """Take the position a `chat_started` gives. It stands just before what the server replays:
        after a resume from our own position it is that position. It is taken when ahead of ours, or
        when behind the `last_seq` we sent (the server could not believe it and numbers from its own)."""
        if not _is_seq(seq):
            return
        disbelieved = sent_last_seq is not None and seq < sent_last_seq
        if self.last_seq is None or seq > self.last_seq or disbelieved:
            self.last_seq = seq

    def accept(self, event: Mapping[str, Any]) -> bool:
        """True when `event` is new and must be delivered; moves the position."""
        kind, seq = event.get("type"), event.get("seq")
        if kind == "chat_started":
            self.started(seq, None)
            return True
        if kind == "events_lost" or (kind == "error" and not event.get("message_id")):
            return True
        numbered = _is_seq(seq)
        if event.get("recovered") is True and kind in ENDINGS:
            if self._has_ended(event.get("message_id")):
                return False
            if numbered and (self.last_seq is None or seq > self.last_seq):
                self.last_seq = seq
            self._end(event)
            return True
        if numbered:
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self.last_seq = seq
        if kind in ENDINGS:
            if self._has_ended(event.get("message_id")):
                return False
            self._end(event)
            return True
        if event.get("message_id"):
            self.open_message = event["message_id"]
        return True

    @property
    def turn_open(self) -> bool:
        return self.open_message is not None

    def _has_ended(self, message_id: Any) -> bool:
        return bool(message_id) and message_id in self._ended

    def _end(self, event: Mapping[str, Any]) -> None:
        if event.get("message_id"):
            self._ended.append(event["message_id"])
        if event.get("message_id") == self.open_message or not event.get("message_id"):
            self.open_message = None
