"""Small HTTP(S) servers on loopback for the http_get tests, and the resolver and connector doubles.

A server answers each request with whatever its route returns: the bytes of a whole response, or
pieces with a pause before each (a slow drip; the server does the waiting, the test never sleeps).
Each connection gets one answer and is closed. Everything the client sent is recorded.

Addresses: tests treat 127.0.0.2 as "the internet" (see `PUBLIC`) and 127.0.0.1 as the internal
network; `LoopbackConnector` refuses to connect anywhere outside 127.0.0.0/8, so a broken check can
fail a test but never send a packet off this machine.
"""
from __future__ import annotations

import gzip
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from app.net import addresses, destinations, guarded_http, transport
from app.net.addresses import is_loopback

PUBLIC = "127.0.0.2"
INTERNAL = "127.0.0.1"


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    raw: bytes


Reply = bytes | Iterable[tuple[float, bytes]]


def response(status: int = 200, body: bytes | str = b"", *, content_type: str | None = "application/json",
             headers: dict[str, str] | None = None, length: bool = True) -> bytes:
    body = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} X"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if length:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()] + ["Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_response(value, status: int = 200) -> bytes:
    return response(status, json.dumps(value))


def redirect(location: str, status: int = 302) -> bytes:
    return response(status, b"", content_type=None, headers={"Location": location})


def gzip_response(plain: bytes, content_type: str = "text/plain") -> bytes:
    return response(200, gzip.compress(plain, compresslevel=9), content_type=content_type,
                    headers={"Content-Encoding": "gzip"})


def echo(request: Request) -> bytes:
    """What the server received, as JSON: the tests read what was sent from the body."""
    return json_response({"target": request.target, "headers": request.headers})


class LocalHttpServer:
    def __init__(self, route: Callable[[Request], Reply], *, host: str = PUBLIC, tls: ssl.SSLContext | None = None,
                 port: int = 0):
        self.route, self.host, self.tls = route, host, tls
        self.requests: list[Request] = []
        self.tls_failures: list[str] = []
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def url(self, path: str = "/", host: str | None = None) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    def _accept(self) -> None:
        self._listener.settimeout(0.05)  # closing a listener does not wake a blocked accept(): poll the stop flag
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setblocking(True)
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(15)
            if self.tls:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as exc:
                    self.tls_failures.append(str(exc))
                    return
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                piece = conn.recv(4096)
                if not piece:
                    return
                data += piece
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            request = Request(method, target, headers, data)
            self.requests.append(request)
            reply = self.route(request)
            if isinstance(reply, bytes):
                conn.sendall(reply)
                return
            for pause, piece in reply:
                if pause and self._stop.wait(pause):
                    return
                conn.sendall(piece)
        except OSError:
            return  # the client hung up: the point of several tests
        finally:
            conn.close()


def drip(head: bytes, piece: bytes, every: float, count: int) -> Iterable[tuple[float, bytes]]:
    """`head` at once, then `piece` every `every` seconds, `count` times (bounded: the server stops by itself)."""
    yield 0, head
    for _ in range(count):
        yield every, piece


@dataclass
class FakeResolver:
    """Answers from a table; a list of answers per host is used one lookup at a time (rebinding)."""

    answers: dict[str, list[list[str]]]
    calls: list[str] = field(default_factory=list)

    @classmethod
    def static(cls, hosts: dict[str, list[str]]) -> FakeResolver:
        return cls({host: [addresses] for host, addresses in hosts.items()})

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers.pop(0) if len(answers) > 1 else answers[0]


class LoopbackConnector:
    """The real connect, to 127.0.0.0/8 only; records every address it was asked for."""

    def __init__(self):
        self.attempts: list[tuple[str, int]] = []

    def __call__(self, address, port: int, timeout: float) -> socket.socket:
        self.attempts.append((str(address), port))
        if not is_loopback(address):
            raise AssertionError(f"the client tried to connect to {address}, outside this machine")
        return transport.connect(address, port, timeout)


def treat_as_public(monkeypatch, address: str = PUBLIC) -> None:
    """Let `address` (a loopback address, so nothing leaves this machine) pass the address checks as if public."""
    public = ipaddress.ip_address(address)

    def refusal(candidate, *, allow_loopback: bool = False):
        return None if candidate == public else addresses.refusal(candidate, allow_loopback=allow_loopback)

    monkeypatch.setattr(guarded_http, "refusal", refusal)
    monkeypatch.setattr(destinations, "refusal", refusal)


def twin_servers(route_public, route_internal, **options) -> tuple[LocalHttpServer, LocalHttpServer]:
    """A 'public' server on 127.0.0.2 and an internal one on 127.0.0.1 listening on the same port number,
    so a client that looked the name up again and got the internal address would reach the twin."""
    for _ in range(20):
        public = LocalHttpServer(route_public, host=PUBLIC, **options)
        try:
            internal = LocalHttpServer(route_internal, host=INTERNAL, port=public.port, **options)
        except OSError:
            public._listener.close()
            continue
        return public, internal
    raise RuntimeError("no port free on both 127.0.0.1 and 127.0.0.2")
