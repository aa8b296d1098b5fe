"""Headers a model asks an outbound request to carry (http_get, invoke_function), validated once.

Framing, routing and encodings are the HTTP client's business: a model setting them could smuggle a
second request, reach another virtual host than the one checked, or get an encoding we do not decode.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from app.tools.base import ToolError

__all__ = ["FRAMING", "check_header_value", "header_list", "latin1"]

TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")
FRAMING = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                     "content-length", "expect", "accept-encoding", "proxy-connection"})


def header_list(value: object, *, refused: Iterable[str], refused_prefixes: tuple[str, ...], max_headers: int,
                max_chars: int, check: Callable[[str, str], None] | None = None) -> list[tuple[str, str]]:
    """`value` (a JSON object of names to strings) as (name, value) pairs; ToolError with the reason if not.

    `check(name, value)` adds a tool's own rule for one header (it raises ToolError)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise ToolError("`headers` must be an object of header names to string values")
    if len(value) > max_headers:
        raise ToolError(f"at most {max_headers} headers")
    refused = frozenset(refused)
    headers = []
    for name, item in value.items():
        if not TOKEN.fullmatch(name):
            raise ToolError(f"{name[:50]!r} is not a valid header name")
        lower = name.lower()
        if lower in refused or lower.startswith(refused_prefixes):
            raise ToolError(f"the {name} header cannot be set")
        if not isinstance(item, str):
            raise ToolError(f"header {name} must be a string (got {type(item).__name__})")
        if check is not None:
            check(name, item)
        if len(item) > max_chars:
            raise ToolError(f"header {name} is longer than {max_chars} characters")
        check_header_value(name, item)
        headers.append((name, item))
    return headers


def check_header_value(name: str, value: str) -> str:
    """The value, if it can travel as one header line (no line break or NUL, Latin-1 only)."""
    if any(c in value for c in "\r\n\0") or not value.isascii() and not latin1(value):
        raise ToolError(f"header {name} contains a line break, NUL or characters a header cannot carry")
    return value


def latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
