"""The MCP server process for tests, and a synchronous face on the SDK's own client (streamable HTTP)."""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

T = TypeVar("T")


@contextlib.contextmanager
def serving_mcp(env: dict[str, str], log_dir: Path):
    """`python -m app.mcp_server` (the Procfile's `mcp` command) on a free port, yielded as its /mcp URL
    once /health answered 200."""
    port = free_port()
    proc = ManagedProcess("mcp", [sys.executable, "-m", "app.mcp_server", "--host", "127.0.0.1", "--port", str(port)],
                          env, log_dir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: not proc.alive() or http_ok(f"{base}/health"), 60, "the MCP server process")
        assert proc.alive(), proc.log_text()
        yield f"{base}/mcp", proc
    finally:
        proc.stop()


def with_client(url: str, headers: dict[str, str], use: Callable[[Client], Awaitable[T]]) -> T:
    """Connect with the SDK's client (its `auto` negotiation), run `use(client)`, return its result."""
    async def main() -> T:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await use(client)

    return anyio.run(main)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows_of(result: Any) -> list[dict]:
    """The rows of every query_result a tool call returned (its structured content)."""
    return [row for item in (result.structured_content or {}).get("results", []) for row in item.get("data", [])]
