"""The server pings every WS_PING_SECONDS and cuts off a client that never answers."""
import base64
import os
import socket
import time

import pytest
import websocket

from tests.conftest import ALICE, token_for
from tests.support.processes import serving_web


@pytest.fixture(scope="module")
def quick_ping_web(base_env, database, worker, workdir):
    with serving_web({**base_env, "WS_PING_SECONDS": "1"}, workdir) as base:
        yield int(base.rsplit(":", 1)[1])


def test_server_sends_pings(quick_ping_web):
    ws = websocket.create_connection(f"ws://127.0.0.1:{quick_ping_web}/ai/ws?token={token_for(ALICE)}",
                                     timeout=5, suppress_origin=True)
    try:
        opcode, _ = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PING
    finally:
        ws.close()


def test_a_client_that_never_answers_is_closed(quick_ping_web):
    sock = socket.create_connection(("127.0.0.1", quick_ping_web), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ai/ws?token={token_for(ALICE)} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    started = time.monotonic()
    received = b""
    try:
        while True:  # read pings and never answer them, until the server hangs up (the deadline is the timeout)
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    assert b" 101 " in received.split(b"\r\n", 1)[0]
    assert b"\x88" in received  # a close frame came before the connection ended
    assert time.monotonic() - started < 10
