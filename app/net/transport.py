"""Connections for httpcore2 that go only to addresses already checked, under one deadline.

httpcore2 (httpx2's transport layer, installed with the openai SDK) asks its network backend to
"connect to host:port". This backend ignores the lookup that implies: it connects to the
addresses the client resolved and checked, in order, so a DNS answer that changes between the
check and the connection (rebinding) is never seen. TLS still gets the real host name, from the
URL, for SNI and the certificate check.

Every socket operation's timeout is clamped to what is left of the request's deadline, so a
server that sends one byte a second (in the headers or the body) is cut off at the deadline,
not after one timeout per byte.
"""
from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore2

from app.net.addresses import IPAddress
from app.net.errors import HttpFailed

__all__ = ["Connector", "Deadline", "DeadlineExceeded", "PinnedBackend", "connect"]

# (address, port, timeout) -> a connected socket. Tests pass one that refuses anything but loopback.
Connector = Callable[[IPAddress, int, float], socket.socket]


class DeadlineExceeded(Exception):
    """The whole request ran out of time."""


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded()
        return left

    def clamp(self, timeout: float | None) -> float:
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._at


def connect(address: IPAddress, port: int, timeout: float) -> socket.socket:
    """A TCP connection to exactly `address`: a literal, so nothing is looked up."""
    sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((str(address), port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class PinnedBackend(httpcore2.NetworkBackend):
    def __init__(self, host: str, addresses: Sequence[IPAddress], deadline: Deadline, connector: Connector):
        self._host, self._addresses, self._deadline, self._connector = host, tuple(addresses), deadline, connector
        self.connected_to: IPAddress | None = None

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        if host != self._host:  # one backend per checked hop; anything else is a bug, not a request
            raise HttpFailed(f"internal error: asked to connect to {host!r} instead of {self._host!r}")
        failures = []
        for address in self._addresses:
            try:
                sock = self._connector(address, port, self._deadline.clamp(timeout))
            except TimeoutError:
                if self._deadline.expired:
                    raise DeadlineExceeded() from None
                failures.append(f"{address}: timed out")
            except OSError as exc:
                failures.append(f"{address}: {exc.strerror or exc}")
            else:
                self.connected_to = address
                return DeadlineStream(sock, self._deadline, host)
        raise HttpFailed(f"could not connect to {host} port {port} ({'; '.join(failures)})")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        raise HttpFailed("internal error: unix sockets are never used")

    def sleep(self, seconds: float) -> None:  # retries are off; kept for the interface
        time.sleep(min(seconds, self._deadline.remaining()))


class DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, sock: socket.socket, deadline: Deadline, host: str):
        self._sock, self._deadline, self._host = sock, deadline, host

    def _timed_out(self, exc: type[Exception]) -> Exception:
        return DeadlineExceeded() if self._deadline.expired else exc("timed out")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            self._sock.settimeout(self._deadline.clamp(timeout))
            return self._sock.recv(max_bytes)
        except TimeoutError:
            raise self._timed_out(httpcore2.ReadTimeout) from None
        except OSError as exc:
            raise httpcore2.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        try:
            while view:
                self._sock.settimeout(self._deadline.clamp(timeout))
                view = view[self._sock.send(view):]
        except TimeoutError:
            raise self._timed_out(httpcore2.WriteTimeout) from None
        except OSError as exc:
            raise httpcore2.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._sock.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        try:
            self._sock.settimeout(self._deadline.clamp(timeout))
            wrapped = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname)
        except ssl.SSLCertVerificationError as exc:
            self._sock.close()
            raise HttpFailed(f"the TLS certificate of {server_hostname} was not accepted "
                             f"({exc.verify_message or exc.reason})") from None
        except ssl.SSLError as exc:
            self._sock.close()
            raise HttpFailed(f"the TLS handshake with {server_hostname} failed ({exc.reason or exc})") from None
        except TimeoutError:
            self._sock.close()
            raise self._timed_out(httpcore2.ConnectTimeout) from None
        except BaseException:
            self._sock.close()
            raise
        return DeadlineStream(wrapped, self._deadline, self._host)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return getattr(self._sock, "_sslobj", None)
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "socket":
            return self._sock
        return None  # 'is_readable' asks about keep-alive reuse; each hop gets a pool of its own
