"""`client.ai.create_chat(...)`: one WebSocket to the server, holding any number of conversations.

    chat.connect()                                   opens the socket (raises on failure)
    cid = chat.start_chat("sql-assistant")           a new conversation (or resume one: conversation_id=)
    chat.send_message(cid, "question")               the answer arrives through the callbacks
    for event in chat.ask(cid, "question"): ...      or as an iterator of typed events for that turn
    chat.cancel(cid)                                 stops the turn in flight; the socket stays
    chat.disconnect()                                for good: nothing reconnects after it

A socket that drops is reopened with backoff and every conversation is re-attached from the last seq
it saw (`start_chat` with `last_seq`), so no event is lost or delivered twice: the server replays what
was missed and the cursor drops what was already delivered. Frames sent while reconnecting wait for
the new socket. A refusal no retry can change (401/403 at the upgrade) ends the reconnecting.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websocket

from fluxbase_sdk import errors
from fluxbase_sdk.callbacks import Callbacks
from fluxbase_sdk.connection import close_quietly, open_socket
from fluxbase_sdk.cursor import Cursor
from fluxbase_sdk.events import ChatEvent, parse_event
from fluxbase_sdk.reconnect import Reconnecting
from fluxbase_sdk.turn import Turn

log = logging.getLogger("fluxbase_sdk")

# Codes after which a refused resume is tried again once `retry_after` has passed.
_RETRIED_RESUMES = frozenset({"RATE_LIMIT_EXCEEDED", "SERVICE_UNAVAILABLE"})
_NOT_FOR_TURNS = frozenset({"chat_started", "authenticated"})


@dataclass
class _Followed:
    chatbot: str
    namespace: str | None
    cursor: Cursor = field(default_factory=Cursor)


@dataclass
class _PendingStart:
    frame: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    conversation_id: str | None = None
    failure: errors.FluxbaseError | None = None


class Chat(Reconnecting):
    def __init__(self, url: str, *, token: str | None = None,
                 lookup: Callable[[str], str | None] | None = None,
                 reconnect_attempts: int = 10, reconnect_delay: float = 0.5, max_reconnect_delay: float = 10.0,
                 connect_timeout: float = 10.0, request_timeout: float = 30.0, ping_timeout: float = 60.0,
                 **callbacks: Any):
        unknown = set(callbacks) - set(Callbacks.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown create_chat option(s): {', '.join(sorted(unknown))}")
        self.url = url
        self.token = token
        self.callbacks = Callbacks(**callbacks)
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout   # start_chat's wait, and a frame's wait for a reconnect
        self.ping_timeout = ping_timeout         # silence (not even the server's pings) after which the socket is dead
        self._lookup = lookup
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._start_lock = threading.Lock()
        self._state = "idle"                     # idle | open | reconnecting | closed | failed
        self._failure: errors.FluxbaseError | None = None
        self._ws: websocket.WebSocket | None = None
        self._reader: threading.Thread | None = None
        self._followed: dict[str, _Followed] = {}
        self._resuming: dict[str, int | None] = {}
        self._pending: _PendingStart | None = None
        self._turns: dict[str, list[Turn]] = {}

    # -- connection ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    def is_connected(self) -> bool:
        return self._state == "open"

    def connect(self) -> None:
        """Open the socket. Raises AuthError for refused credentials, ConnectionError otherwise."""
        with self._lock:
            if self._state in ("open", "reconnecting"):
                return
        ws = self._open()
        with self._lock:
            if self._state in ("closed", "failed"):
                # A chat used again after disconnect() starts afresh.
                self._followed.clear()
                self._resuming.clear()
            self._ws, self._state, self._failure = ws, "open", None
            self._changed.notify_all()
            self._reader = threading.Thread(target=self._run, args=(ws,), name="fluxbase-chat", daemon=True)
            self._reader.start()
        self.callbacks.connection("connected")

    def disconnect(self) -> None:
        """Close the socket for good: no reconnect follows; turns being read end with ConnectionError."""
        with self._lock:
            if self._state == "closed":
                return
            self._state = "closed"
            ws, self._ws = self._ws, None
            reader = self._reader
            self._changed.notify_all()
        close_quietly(ws)
        self._fail_everything(errors.ConnectionError("the chat was disconnected", code=errors.DISCONNECTED))
        if reader is not None and reader is not threading.current_thread():
            reader.join(5)
        self.callbacks.connection("disconnected")

    def set_token(self, token: str) -> None:
        """A fresh JWT for the same user: sent on the open socket (`auth` frame) and used to reconnect."""
        self.token = token
        if self._state == "open":
            self._send({"type": "auth", "token": token})

    def __enter__(self) -> Chat:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # -- conversations ------------------------------------------------------------------------------

    def start_chat(self, chatbot: str, namespace: str | None = None, conversation_id: str | None = None,
                   last_seq: int | None = None) -> str:
        """Open a conversation with `chatbot` and return its id; with `conversation_id`, re-attach to
        that one (its missed events are replayed). Without `namespace` the chatbot's is looked up by
        name, as Fluxbase's SDK does. Raises the server's refusal (NotFoundError for
        CHATBOT_NOT_FOUND, AuthError for AUTH_REQUIRED...)."""
        if not isinstance(chatbot, str) or not chatbot:
            raise errors.FluxbaseError("start_chat needs a chatbot name", code=errors.INVALID_ARGUMENT)
        if threading.current_thread() is self._reader:
            # Its answer is read by this very thread, which would wait for itself.
            raise errors.FluxbaseError("start_chat cannot be called from a chat callback",
                                       code=errors.INVALID_ARGUMENT)
        if namespace is None and self._lookup is not None:
            namespace = self._lookup(chatbot)
        frame: dict[str, Any] = {"type": "start_chat", "chatbot": chatbot}
        if namespace is not None:
            frame["namespace"] = namespace
        if conversation_id is not None:
            frame["conversation_id"] = conversation_id
            followed = self._followed.get(conversation_id)
            if last_seq is None and followed is not None:
                last_seq = followed.cursor.last_seq
            if last_seq is not None:
                frame["last_seq"] = last_seq
        with self._start_lock:
            pending = _PendingStart(frame)
            with self._lock:
                self._pending = pending
            try:
                self._send(frame)
                if not pending.done.wait(self.request_timeout):
                    raise errors.TimeoutError(f"no answer to start_chat within {self.request_timeout:g} s",
                                              code=errors.TIMEOUT)
            finally:
                with self._lock:
                    self._pending = None
        if pending.failure is not None:
            raise pending.failure
        assert pending.conversation_id is not None
        return pending.conversation_id

    def send_message(self, conversation_id: str, content: str) -> None:
        """One user turn; the answer arrives through the callbacks (and to `ask()`'s iterator)."""
        self._followed_or_raise(conversation_id)
        if not isinstance(content, str):
            raise errors.FluxbaseError("a message's content is text", code=errors.INVALID_ARGUMENT)
        self._send({"type": "message", "conversation_id": conversation_id, "content": content})

    def ask(self, conversation_id: str, content: str, *, timeout: float | None = None) -> Turn:
        """Send one user turn and return an iterator of its typed events, ending with its ending.
        `timeout` bounds each wait for the next event (None: no bound)."""
        followed = self._followed_or_raise(conversation_id)
        turn = Turn(conversation_id, timeout=timeout, cancel=self.cancel, release=self._release,
                    skip_message=followed.cursor.open_message)
        with self._lock:
            self._turns.setdefault(conversation_id, []).append(turn)
        try:
            self.send_message(conversation_id, content)
        except BaseException:
            turn.close()
            raise
        return turn

    def cancel(self, conversation_id: str) -> None:
        """Stop the turn in flight: the partial answer is kept and `cancelled` follows."""
        self._send({"type": "cancel", "conversation_id": conversation_id})

    def approve(self, conversation_id: str, approval_id: str) -> None:
        """Run the tool call an `ApprovalRequired` event asked about (docs/approval.md)."""
        self._send({"type": "approve", "conversation_id": conversation_id, "approval_id": approval_id})

    def deny(self, conversation_id: str, approval_id: str, reason: str | None = None) -> None:
        """Refuse it: nothing runs, and the model reads that the user did not approve it (and `reason`)."""
        frame = {"type": "deny", "conversation_id": conversation_id, "approval_id": approval_id}
        if reason and reason.strip():
            frame["reason"] = reason
        self._send(frame)

    def last_seq(self, conversation_id: str) -> int | None:
        """The position this chat holds in a conversation (what a resume sends)."""
        followed = self._followed.get(conversation_id)
        return None if followed is None else followed.cursor.last_seq

    # asyncio: the blocking calls in a thread, and `async for event in chat.ask(...)` (Turn).
    async def aconnect(self) -> None:
        import asyncio
        await asyncio.to_thread(self.connect)

    async def astart_chat(self, chatbot: str, namespace: str | None = None, conversation_id: str | None = None,
                          last_seq: int | None = None) -> str:
        import asyncio
        return await asyncio.to_thread(self.start_chat, chatbot, namespace, conversation_id, last_seq)

    # -- sending ------------------------------------------------------------------------------------

    def _followed_or_raise(self, conversation_id: str) -> _Followed:
        followed = self._followed.get(conversation_id)
        if followed is None:
            raise errors.ConflictError("No active chat session: call start_chat first", code="NO_SESSION")
        return followed

    def _send(self, frame: dict[str, Any]) -> None:
        data = json.dumps(frame)
        deadline = time.monotonic() + self.request_timeout
        with self._lock:
            while self._state != "open":
                if self._state == "idle":
                    raise errors.ConnectionError("not connected: call connect() first", code=errors.DISCONNECTED)
                if self._state in ("closed", "failed"):
                    raise self._failure or errors.ConnectionError("the chat was disconnected",
                                                                  code=errors.DISCONNECTED)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise errors.TimeoutError(f"still reconnecting after {self.request_timeout:g} s",
                                              code=errors.TIMEOUT)
                self._changed.wait(remaining)
            ws = self._ws
        try:
            ws.send(data)
        except (websocket.WebSocketException, OSError) as exc:
            # Not sent again: a message the server did get would become a second turn. The reader
            # sees the broken socket and reconnects; the caller decides.
            raise errors.ConnectionError(f"the connection dropped while sending ({exc}); the frame may not "
                                         "have arrived", code=errors.DISCONNECTED) from None

    # -- reading ------------------------------------------------------------------------------------

    def _run(self, ws: websocket.WebSocket) -> None:
        while ws is not None:
            self._read(ws)
            close_quietly(ws)
            ws = self._reconnect(ws)

    def _read(self, ws: websocket.WebSocket) -> None:
        while True:
            try:
                ws.settimeout(self.ping_timeout)
                opcode, frame = ws.recv_data_frame(True)
            except Exception:  # noqa: BLE001 - any failure to read means the socket is gone
                return
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                self._on_frame(frame.data)
            elif opcode == websocket.ABNF.OPCODE_CLOSE:
                return

    def _on_frame(self, data: bytes | str) -> None:
        try:
            raw = json.loads(data)
        except ValueError:
            log.warning("ignored a frame that is not JSON")
            return
        if not isinstance(raw, dict):
            return
        event = parse_event(raw)
        with self._lock:
            deliver, retry_resume = self._route(raw, event)
            turns = self._readers_of(event) if deliver and event.type not in _NOT_FOR_TURNS else []
        if retry_resume is not None:
            self._schedule_resume(*retry_resume)
        if not deliver:
            return
        for turn in turns:
            turn.push(event)
        self.callbacks.dispatch(event)

    def _route(self, raw: dict[str, Any], event: ChatEvent) -> tuple[bool, tuple[str, float] | None]:
        """Whether to deliver `event`, and a resume to retry later. Called with the lock held."""
        cid = event.conversation_id
        pending = self._pending
        if event.type == "chat_started" and cid:
            if cid in self._resuming:
                followed = self._followed.get(cid)
                if followed is not None:
                    followed.cursor.started(event.seq, self._resuming.pop(cid))
                return True, None
            if pending is not None and not pending.done.is_set():
                followed = self._followed.get(cid)
                if followed is None:
                    followed = self._followed[cid] = _Followed(pending.frame["chatbot"],
                                                               pending.frame.get("namespace"))
                followed.cursor.started(event.seq, pending.frame.get("last_seq"))
                pending.conversation_id = cid
                pending.done.set()
            return True, None
        if event.type == "error" and not event.message_id:
            if cid is not None and cid in self._resuming:
                sent = self._resuming.pop(cid)
                retry_after = getattr(event, "retry_after", None)
                if getattr(event, "code", None) in _RETRIED_RESUMES and retry_after is not None:
                    self._resuming[cid] = sent
                    return True, (cid, float(retry_after))
                # The conversation cannot be re-attached (expired, deleted): its readers learn why.
                self._followed.pop(cid, None)
                return True, None
            if pending is not None and not pending.done.is_set() and cid == pending.frame.get("conversation_id"):
                pending.failure = errors.error_for_event(raw)
                pending.done.set()
                return True, None
        followed = self._followed.get(cid) if cid else None
        if followed is not None and not followed.cursor.accept(raw):
            return False, None
        return True, None

    def _readers_of(self, event: ChatEvent) -> list[Turn]:
        """The turns being read that `event` belongs to. Called with the lock held."""
        turns = self._turns.get(event.conversation_id or "", [])
        if event.type == "error" and not event.message_id:
            # A refused message (TURN_IN_PROGRESS, TURN_LIMIT...) carries no message id: it ends the
            # newest turn the server has not started, never one already streaming.
            waiting = [turn for turn in turns if not turn.started]
            return waiting[-1:]
        readers = [turn for turn in turns if turn.wants(event)]
        if event.message_id:
            for turn in readers:
                turn.started = True
        return readers

    def _open(self) -> websocket.WebSocket:
        # Looked up at call time, so tests can hold a reconnect back (tests/sdk/python/test_reconnect.py).
        return open_socket(self.url, self.token, timeout=self.connect_timeout)

    def _release(self, turn: Turn) -> None:
        with self._lock:
            turns = self._turns.get(turn.conversation_id)
            if turns and turn in turns:
                turns.remove(turn)
                if not turns:
                    del self._turns[turn.conversation_id]
