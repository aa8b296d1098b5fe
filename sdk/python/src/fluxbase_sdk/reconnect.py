"""Reconnecting the chat's socket: backoff, re-attaching every conversation from the last seq it
delivered, and giving up for good. A part of `Chat` (chat.py), kept apart for size; it works on the
chat's state under the chat's lock."""
from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import websocket

from fluxbase_sdk import errors
from fluxbase_sdk.connection import backoff, close_quietly

if TYPE_CHECKING:
    from fluxbase_sdk.chat import _Followed


class Reconnecting:
    """Mixed into Chat; every attribute used here is set by Chat.__init__."""

    def _reconnect(self, lost: websocket.WebSocket) -> websocket.WebSocket | None:
        """The next socket, with every conversation re-attached; None when the chat is over."""
        with self._lock:
            if self._state != "open" or self._ws is not lost:
                return None
            self._state = "reconnecting"
            self._changed.notify_all()
        attempt = 0
        while True:
            attempt += 1
            if attempt > self.reconnect_attempts:
                self._give_up(errors.ConnectionError("Connection lost: could not reconnect",
                                                     code=errors.CONNECTION_FAILED))
                return None
            delay = backoff(attempt, self.reconnect_delay, self.max_reconnect_delay)
            self.callbacks.connection("reconnecting", attempt=attempt, delay=delay)
            with self._lock:
                if self._changed.wait_for(lambda: self._state == "closed", timeout=delay):
                    return None
            try:
                ws = self._open()
            except errors.AuthError as exc:
                self._give_up(exc)
                return None
            except errors.FluxbaseError:
                continue
            with self._lock:
                if self._state == "closed":
                    close_quietly(ws)
                    return None
                try:
                    # Before any frame a caller is waiting to send: the server must know the
                    # conversations again first.
                    for frame in self._resume_frames():
                        ws.send(json.dumps(frame))
                except (websocket.WebSocketException, OSError):
                    close_quietly(ws)
                    continue
                self._ws, self._state = ws, "open"
                self._changed.notify_all()
            self.callbacks.connection("reconnected", attempt=attempt)
            return ws

    def _resume_frames(self) -> list[dict[str, Any]]:
        frames = []
        self._resuming.clear()
        for cid, followed in self._followed.items():
            frame = self._resume_frame(cid, followed)
            frames.append(frame)
            # What the frame says, which the answer's seq is judged against (Cursor.started).
            self._resuming[cid] = frame.get("last_seq")
        pending = self._pending
        if pending is not None and not pending.done.is_set():
            frames.append(pending.frame)  # its answer may have been lost with the old socket
        return frames

    @staticmethod
    def _resume_frame(cid: str, followed: _Followed) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "start_chat", "chatbot": followed.chatbot, "conversation_id": cid}
        if followed.namespace is not None:
            frame["namespace"] = followed.namespace
        if followed.cursor.last_seq is not None:
            frame["last_seq"] = followed.cursor.last_seq
        return frame

    def _schedule_resume(self, cid: str, delay: float) -> None:
        def resume() -> None:
            with self._lock:
                followed = self._followed.get(cid)
                if followed is None or self._state != "open" or cid not in self._resuming:
                    return
                frame = self._resume_frame(cid, followed)
                self._resuming[cid] = frame.get("last_seq")
            try:
                self._send(frame)
            except errors.FluxbaseError:
                pass  # the socket went; the next reconnect re-attaches everything anyway

        timer = threading.Timer(max(0.0, delay), resume)
        timer.daemon = True
        timer.start()

    def _give_up(self, failure: errors.FluxbaseError) -> None:
        with self._lock:
            if self._state == "closed":
                return
            self._state, self._failure, self._ws = "failed", failure, None
            self._changed.notify_all()
        self._fail_everything(failure)
        self.callbacks.connection("failed", error=failure)

    def _fail_everything(self, failure: errors.FluxbaseError) -> None:
        with self._lock:
            turns = [turn for turns in self._turns.values() for turn in turns]
            pending = self._pending
            if pending is not None and not pending.done.is_set():
                pending.failure = failure
                pending.done.set()
        for turn in turns:
            turn.fail(failure)
