"""HTTP/1.1 transport of the scripted LLM double: routing, recording, streaming I/O.

The handler decides *when* bytes go out (stalls, cuts, slow chunks, disconnect
detection); what they contain comes from ``llm_script``, and which reply to
use comes from the ``ScriptHost`` (``ScriptedLLM``).
"""

from __future__ import annotations

import json
import math
import re
import select
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit

from tests.support import llm_control
from tests.support.llm_script import (
    OLLAMA_VERSION,
    CompletionContext,
    Dialect,
    Reply,
    completion_body,
    embeddings_body,
    error_body,
    new_id,
    ollama_models_body,
    ollama_tags_body,
    stream_events,
)

Endpoint = Literal["chat", "embeddings", "models", "ollama_tags", "ollama_version", "unknown"]
_Pause = Literal["ok", "disconnected", "released", "opened"]

_OPENAI_ROUTE = re.compile(r"^/v1/(chat/completions|embeddings|models)$")
_AZURE_ROUTE = re.compile(r"^/openai/deployments/([^/]+)/(chat/completions|embeddings)$")
_OLLAMA_ROUTES: dict[str, Endpoint] = {"/api/tags": "ollama_tags", "/api/version": "ollama_version"}
_ENDPOINTS: dict[str, Endpoint] = {"chat/completions": "chat", "embeddings": "embeddings", "models": "models"}
_METHODS: dict[Endpoint, str] = {"chat": "POST", "embeddings": "POST", "models": "GET", "ollama_tags": "GET",
                                 "ollama_version": "GET"}
NO_REPLY_MESSAGE = "scripted LLM: no reply queued"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: Any
    endpoint: Endpoint
    azure: bool
    deployment: str | None
    received_at: float
    api_version: str | None = None
    status: int | None = None
    reply: Reply | None = None
    unexpected: bool = False
    stalled: bool = False
    held: bool = False
    client_disconnected: bool = False
    finished_at: float | None = None  # set once the handler is done, however it ended

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))

    @property
    def model(self) -> str | None:
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", []) if isinstance(self.body, dict) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        return (self.body.get("tools") or []) if isinstance(self.body, dict) else []

    @property
    def api_key(self) -> str | None:
        if self.azure:
            return self.headers.get("api-key")
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


class Waker:
    """A socket that becomes readable once fired, so blocked waits can wake on stop/reset."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()

    def fileno(self) -> int:
        return self._r.fileno()

    def fire(self) -> None:
        try:
            self._w.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        self._r.close()
        self._w.close()


class ScriptHost(Protocol):
    """What the handler needs from the scripted server; all calls must be thread-safe."""

    api_key: str | None
    embedding_dimensions: int
    dialect: Dialect
    ollama_models: tuple[str, ...]

    def record_request(self, request: RecordedRequest) -> Waker: ...

    def update_request(self, request: RecordedRequest, **changes: Any) -> None: ...

    def take_reply(self) -> Reply | None: ...


class LLMHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # stop() joins handlers itself, with a deadline
    # socketserver's default listen backlog is 5: a burst of a hundred turns connecting at once
    # overflowed it, the dropped SYNs were resent after 1 s and 3 s, and a client with a 3 s
    # connect timeout failed without ever reaching the server. A real provider's backlog is large.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], llm: ScriptHost) -> None:
        self.llm = llm
        self.gates = llm_control.Gates()  # named gates of the HTTP control (llm_control.py)
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse-DNS getfqdn(), which can stall in sandboxes.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._live_lock:
            if alive:
                self._live[conn] = threading.current_thread()
            else:
                self._live.pop(conn, None)

    def close_connections(self) -> None:
        with self._live_lock:
            conns = list(self._live)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._live_lock:
            threads = list(self._live.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like the real API
    server: LLMHTTPServer
    record: RecordedRequest
    waker: Waker

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, alive=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, alive=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # stderr noise would drown test output

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    # -- routing -----------------------------------------------------------------
    def _dispatch(self) -> None:
        llm = self.server.llm
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query))
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        if url.path.startswith(llm_control.PREFIX):
            # Not an LLM request: never recorded, so it cannot count as unexpected.
            return self._answer_control(llm, url.path, body)
        endpoint, azure, deployment = _route(url.path)
        self.record = RecordedRequest(
            method=self.command, path=url.path, query=query,
            headers={k.lower(): v for k, v in self.headers.items()}, body=body, endpoint=endpoint,
            azure=azure, deployment=deployment, api_version=query.get("api-version"),
            received_at=time.time())
        self.waker = llm.record_request(self.record)
        try:
            self._route_request(llm, body)
        finally:
            llm.update_request(self.record, finished_at=time.time())

    def _route_request(self, llm: ScriptHost, body: Any) -> None:
        rec = self.record
        dialect = llm.dialect
        native = rec.endpoint in ("ollama_tags", "ollama_version")
        if _METHODS.get(rec.endpoint) != self.command or (native and dialect != "ollama"):
            llm.update_request(rec, unexpected=True)
            return self._send_json(404, error_body(f"Invalid URL ({self.command} {rec.path})",
                                                   type="invalid_request_error"))
        if native:  # Ollama's own API has no authentication
            if rec.endpoint == "ollama_tags":
                return self._send_json(200, ollama_tags_body(llm.ollama_models))
            return self._send_json(200, {"version": OLLAMA_VERSION})
        if llm.api_key is not None and rec.api_key != llm.api_key:
            header = "api-key header" if rec.azure else "Authorization header"
            message = (f"Incorrect API key provided in the {header}." if rec.api_key
                       else f"You didn't provide an API key. Send it in the {header}.")
            return self._send_json(401, error_body(message, type="invalid_request_error", code="invalid_api_key"))
        if rec.azure and not rec.api_version:
            llm.update_request(rec, unexpected=True)
            return self._send_json(404, error_body("Resource not found: missing api-version query parameter",
                                                   type="invalid_request_error", code="404"))
        if rec.endpoint == "models" and dialect == "ollama":
            return self._send_json(200, ollama_models_body(llm.ollama_models, int(time.time())))
        if rec.endpoint == "models":
            return self._send_json(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 1700000000, "owned_by": "scripted"}
                for name in ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")]})
        if not isinstance(body, dict):
            return self._send_json(400, error_body("We could not parse the JSON body of your request.",
                                                   type="invalid_request_error"))
        model = str(body.get("model") or rec.deployment or "scripted")
        if rec.endpoint == "embeddings":
            try:
                payload = embeddings_body(body, model=model, default_dimensions=llm.embedding_dimensions)
            except ValueError as exc:
                return self._send_json(400, error_body(str(exc), type="invalid_request_error", param="input"))
            return self._send_json(200, payload)
        reply = llm.take_reply()
        if reply is None:
            llm.update_request(rec, unexpected=True)
            # x-should-retry stops the client's retry loop from tripling the noise.
            return self._send_json(500, error_body(NO_REPLY_MESSAGE, type="server_error"),
                                   {"x-should-retry": "false"})
        llm.update_request(rec, reply=reply)
        self._answer_chat(reply, CompletionContext(model=model, request_body=body, azure=rec.azure,
                                                   dialect=dialect))

    def _answer_control(self, llm: ScriptHost, path: str, body: Any) -> None:
        status, payload = llm_control.handle(llm, self.server.gates, self.command, path, body)  # type: ignore[arg-type]
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- chat completions ----------------------------------------------------------
    def _answer_chat(self, reply: Reply, ctx: CompletionContext) -> None:
        if reply.error is not None:
            return self._send_json(reply.error.status, reply.error.body(), reply.error.headers())
        if not self.record.stream:
            return self._answer_whole(reply, ctx)
        self._start_response(200, {"Content-Type": "text/event-stream; charset=utf-8",
                                   "Cache-Control": "no-cache", "Transfer-Encoding": "chunked"})
        limit = reply.stall_after if reply.stall_after is not None else reply.cut_after
        for sent, event in enumerate(stream_events(reply, ctx)):
            if limit is not None and sent >= limit:
                break
            if reply.gate is not None and sent == reply.hold_after:
                self.server.llm.update_request(self.record, held=True)
                if self._pause(None, gate=reply.gate) != "opened":
                    return self._drop()
            if reply.delay_per_chunk and self._pause(reply.delay_per_chunk) != "ok":
                return self._drop()
            if not self._send_chunk(b"data: " + json.dumps(event).encode() + b"\n\n"):
                return self._drop()
        else:
            # [DONE] and the terminating chunk go in one write so a client that
            # hangs up right after [DONE] is not mistaken for an early disconnect.
            self._send_chunk(b"data: [DONE]\n\n", last=True)
            return
        if reply.stall_after is not None:
            self.server.llm.update_request(self.record, stalled=True)
            self._pause(None)
        self._drop()

    def _answer_whole(self, reply: Reply, ctx: CompletionContext) -> None:
        if reply.stall_after is not None:
            self.server.llm.update_request(self.record, stalled=True)
            self._pause(None)
            return self._drop()
        if reply.cut_after is not None:
            return self._drop()
        if reply.delay_per_chunk and self._pause(reply.delay_per_chunk * max(1, reply.chunks)) != "ok":
            return self._drop()
        self._send_json(200, completion_body(reply, ctx))

    # -- low-level I/O -------------------------------------------------------------
    def _start_response(self, status: int, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        self.send_header("x-request-id", new_id("req_", 32))
        if self.record.azure:
            self.send_header("apim-request-id", new_id("", 32))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.server.llm.update_request(self.record, status=status)
        try:
            self._start_response(status, {"Content-Type": "application/json",
                                          "Content-Length": str(len(data)), **(headers or {})})
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self._mark_disconnected()

    def _send_chunk(self, data: bytes, last: bool = False) -> bool:
        if self.record.status is None:
            self.server.llm.update_request(self.record, status=200)
        frame = b"%x\r\n%s\r\n" % (len(data), data) + (b"0\r\n\r\n" if last else b"")
        try:
            self.wfile.write(frame)  # wfile is unbuffered: each frame hits the socket now
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self._mark_disconnected()
            return False

    def _pause(self, seconds: float | None, gate: Any = None) -> _Pause:
        """Wait `seconds` (None = forever) unless the client hangs up, stop/reset fires or `gate` opens."""
        deadline = None if seconds is None else time.monotonic() + seconds
        watch: list[Any] = [self.connection, self.waker] + ([gate] if gate is not None else [])
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable = _readable(watch, remaining)
            if self.waker in readable:
                return "released"
            if gate is not None and gate in readable:
                return "opened"
            if self.connection in readable:
                try:
                    peeked = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peeked = b""
                if not peeked:  # EOF: the client closed its side
                    self._mark_disconnected()
                    return "disconnected"
                # Stray bytes from the client; keep waiting on stop (and the gate) only.
                watch = [self.waker] + ([gate] if gate is not None else [])
            if not readable:
                return "ok"

    def _mark_disconnected(self) -> None:
        self.close_connection = True
        self.server.llm.update_request(self.record, client_disconnected=True)

    def _drop(self) -> None:
        """Close abruptly: no terminating chunk, so the client sees a truncated body."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _readable(watch: list[Any], timeout: float | None) -> list[Any]:
    """The objects in `watch` that are readable (or hung up) within `timeout` seconds (None = forever).

    poll, not select: select cannot watch a descriptor numbered 1024 or above, which a long test
    session's process reaches."""
    poller = select.poll()
    by_fd = {obj.fileno(): obj for obj in watch}
    for fd in by_fd:
        poller.register(fd, select.POLLIN | select.POLLPRI)
    ready = poller.poll(None if timeout is None else max(0, math.ceil(timeout * 1000)))
    return [by_fd[fd] for fd, _ in ready if fd in by_fd]


def _route(path: str) -> tuple[Endpoint, bool, str | None]:
    if match := _OPENAI_ROUTE.match(path):
        return _ENDPOINTS[match.group(1)], False, None
    if match := _AZURE_ROUTE.match(path):
        return _ENDPOINTS[match.group(2)], True, match.group(1)
    if path == "/openai/models":
        return "models", True, None
    if path in _OLLAMA_ROUTES:
        return _OLLAMA_ROUTES[path], False, None
    return "unknown", path.startswith("/openai/"), None
