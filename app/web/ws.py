"""WebSocket `/ai/ws`: credentials and origin checked before the upgrade, then one ChatSession per socket."""
from __future__ import annotations

import logging
import socket
import uuid

from flask import Flask, request
from flask_sock import ConnectionClosed, Sock

from app import log_context
from app.auth.request import principal_from_headers
from app.auth.tokens import AuthError
from app.chat.hub import ChatHub
from app.chat.outbox import Outbox
from app.chat.session import ChatSession
from app.protocol import Code, text_of
from app.web.context import web_context
from app.web.cors import origin_allowed
from app.web.errors import error_response

log = logging.getLogger(__name__)

WS_PATH = "/ai/ws"
# Frames up to this many times the protocol limit get a MESSAGE_TOO_LARGE reply; beyond, the socket closes.
HARD_FRAME_FACTOR = 16


def init_app(app: Flask) -> None:
    settings = web_context(app).settings
    app.config["SOCK_SERVER_OPTIONS"] = {
        "ping_interval": settings.ws_ping_seconds,
        "max_message_size": settings.ws_max_frame_bytes * HARD_FRAME_FACTOR,
    }
    sock = Sock(app)

    @app.before_request
    def _check_upgrade():
        if request.path != WS_PATH:
            return None
        if not origin_allowed(settings, request.headers.get("Origin"), request.host):
            return error_response(403, Code.ORIGIN_NOT_ALLOWED, text_of(Code.ORIGIN_NOT_ALLOWED))
        try:
            request.environ["fluxbase.principal"] = principal_from_headers(settings, request.headers, request.args)
        except AuthError as exc:
            return error_response(401, Code.AUTH_INVALID, str(exc))
        return _refuse_bad_handshake()

    @sock.route(WS_PATH)
    def chat_socket(ws):
        # remote_addr is the client's own address behind PROXY_DEPTH trusted proxies (ProxyFix).
        _serve(ws, web_context().chat, request.environ["fluxbase.principal"], request.remote_addr)


def _refuse_bad_handshake():
    """What the WebSocket library would choke on (a 500) gets the HTTP answer RFC 6455 asks for."""
    headers = request.headers
    if "websocket" not in headers.get("Upgrade", "").lower() or "upgrade" not in headers.get("Connection", "").lower():
        return error_response(400, Code.INVALID_REQUEST, "a WebSocket upgrade is required on this path")
    if headers.get("Sec-WebSocket-Version", "").strip() != "13":
        response = error_response(426, Code.INVALID_REQUEST, "only WebSocket version 13 is supported")
        response.headers["Sec-WebSocket-Version"] = "13"
        return response
    if not headers.get("Sec-WebSocket-Key", "").strip():
        return error_response(400, Code.INVALID_REQUEST, "the Sec-WebSocket-Key header is required")
    return None


def _serve(ws, hub: ChatHub, principal, client_address: str | None) -> None:
    try:
        # Without it the first deltas of a stream wait ~40 ms on delayed ACKs.
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass

    def overflow() -> None:
        # Runs on the shared relay greenlet: writing a close frame to a socket whose buffer is full
        # would block every other socket, so cut the connection without writing; the socket's own
        # greenlet then sees it closed and cleans up.
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    metrics = hub.metrics
    outbox = Outbox(ws.send, overflow, hub.settings.ws_send_queue, on_lag=metrics.relay_lag if metrics.on else None)
    session = ChatSession(hub, principal, outbox, client_address=client_address)
    metrics.socket_opened()
    # Lines this socket's greenlet logs say which socket (and, per frame, which conversation: session.py).
    with log_context.scope(socket=uuid.uuid4().hex[:12]):
        try:
            while not outbox.closed:
                frame = ws.receive()
                if frame is None:
                    continue
                session.handle(frame)
        except ConnectionClosed:
            pass
        finally:
            metrics.socket_closed()
            session.close()
