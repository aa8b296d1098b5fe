"""Opening the chat's WebSocket, and the wait between reconnect attempts."""
from __future__ import annotations

import json
import random
import socket
import urllib.parse

import websocket

from fluxbase_sdk import errors


def ws_url(base_url: str) -> str:
    """`http(s)://host[/prefix]` -> `ws(s)://host[/prefix]/ai/ws`."""
    parts = urllib.parse.urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme.lower())
    if scheme is None:
        raise errors.FluxbaseError(f"not an http(s) URL: {base_url!r}", code=errors.INVALID_ARGUMENT)
    path = parts.path if parts.path.endswith("/ai/ws") else parts.path + "/ai/ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def open_socket(url: str, token: str | None, *, timeout: float) -> websocket.WebSocket:
    """A connected socket; raises AuthError for a refused credential (no retry can change that) and
    ConnectionError for anything else."""
    # The token goes in a header, not the URL, so it stays out of access logs. A program is not a
    # browser: no Origin header.
    header = [f"Authorization: Bearer {token}"] if token else []
    try:
        return websocket.create_connection(url, timeout=timeout, header=header, suppress_origin=True,
                                           enable_multithread=True,
                                           sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
    except websocket.WebSocketBadStatusException as exc:
        raise _refusal(exc) from None
    except (websocket.WebSocketException, OSError) as exc:
        raise errors.ConnectionError(f"cannot open the chat socket at {url}: {exc}",
                                     code=errors.CONNECTION_FAILED) from None


def _refusal(exc: websocket.WebSocketBadStatusException) -> errors.FluxbaseError:
    status = exc.status_code
    body = exc.resp_body
    try:
        answer = json.loads(body) if body else None
    except (TypeError, ValueError):
        answer = None
    headers = exc.resp_headers or {}
    error = errors.error_for_status(status, answer, retry_after_header=headers.get("retry-after"))
    if isinstance(error, errors.AuthError):
        return error
    return errors.ConnectionError(f"the server refused the chat socket: {error.message}", code=error.code,
                                  status=status, retry_after=error.retry_after, details=error.details)


def close_quietly(ws: websocket.WebSocket | None) -> None:
    """Say goodbye (a close frame), then shut the socket, which wakes a reader blocked in recv at
    once. Not ws.close(): it would read the server's answer in competition with that reader."""
    if ws is None:
        return
    try:
        ws.send_close()
    except Exception:  # noqa: BLE001 - a broken socket may fail in any way here; it is shut below anyway
        pass
    try:
        if ws.sock is not None:
            ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        ws.shutdown()
    except Exception:  # noqa: BLE001
        pass


def backoff(attempt: int, base: float, ceiling: float) -> float:
    """Exponential backoff with jitter: attempt 1 waits 50-100% of `base`, doubling up to `ceiling`."""
    top = min(ceiling, base * 2 ** max(0, attempt - 1))
    return top * (0.5 + random.random() / 2)
