"""A real WebSocket client for tests: sends frames, collects events, waits on them with deadlines."""
from __future__ import annotations

import json
import time

import websocket


class ChatClient:
    def __init__(self, base_url: str, token: str | None = None, headers: dict | None = None, timeout: float = 15,
                 origin: str | None = None):
        url = base_url.replace("http://", "ws://") + "/ai/ws"
        if token:
            url += f"?token={token}"
        options = {"origin": origin} if origin else {"suppress_origin": True}
        self.ws = websocket.create_connection(url, timeout=timeout,
                                              header=[f"{k}: {v}" for k, v in (headers or {}).items()], **options)
        self.events: list[dict] = []

    def send(self, frame: dict | str) -> None:
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 15) -> dict:
        """The next event, within `timeout` in all. The server's pings (answered by the library) count
        against it: a plain `recv` waits again after each one and would never time out."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise websocket.WebSocketTimeoutException(f"no event within {timeout}s")
            self.ws.settimeout(remaining)
            opcode, frame = self.ws.recv_data_frame(True)
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                event = json.loads(frame.data)
                self.events.append(event)
                return event
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                raise websocket.WebSocketConnectionClosedException("the server closed the socket")

    def until(self, predicate, timeout: float = 15) -> list[dict]:
        """Receive events until one satisfies `predicate`; returns the events received by this call."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event within {timeout}s; got {got}")
            event = self.recv(remaining)
            got.append(event)
            if predicate(event):
                return got

    def until_type(self, *types: str, timeout: float = 15) -> list[dict]:
        return self.until(lambda e: e.get("type") in types, timeout)

    def start_chat(self, chatbot: str, **extra) -> dict:
        self.send({"type": "start_chat", "chatbot": chatbot, **extra})
        return self.until_type("chat_started", "error")[-1]

    def ask(self, conversation_id: str, content: str, timeout: float = 20) -> list[dict]:
        self.send({"type": "message", "conversation_id": conversation_id, "content": content})
        return self.until(lambda e: e.get("type") in ("done", "cancelled", "error")
                          and e.get("conversation_id") == conversation_id, timeout)

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
