"""The JSON object a write endpoint takes: refused with one clear 400 when it is not an object or has
keys the endpoint does not know (a misspelt key must not be silently ignored)."""
from __future__ import annotations

from typing import Any

from flask import request

from app.protocol import Code, ProtocolError


def object_body(allowed: tuple[str, ...], *, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not request.get_data(cache=True).strip():
        return {}
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise ProtocolError(Code.INVALID_REQUEST, "the request body must be a JSON object")
    unknown = sorted(str(key)[:40] for key in body if key not in allowed)
    if unknown:
        raise ProtocolError(Code.INVALID_REQUEST, f"unknown key(s): {', '.join(unknown[:5])} "
                                                  f"(allowed: {', '.join(allowed)})", field=unknown[0])
    return body
