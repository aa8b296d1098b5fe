"""HTTP control of the scripted LLM, for tests that are not written in Python (the JavaScript SDK's).

The same queue and records as the Python methods of ScriptedLLM, so its "every scripted reply was
used" check covers replies queued this way too. Control requests are never recorded as LLM requests.

    POST /__script__/reply         one reply spec, or {"replies": [spec, ...]}   -> 201 {"queued": n}
         {"text", "chunks"?, "usage"?: [prompt, completion]}
         {"tool_calls": [{"name", "arguments", "id"?}], "text"?, "chunks"?, "usage"?}
         {"error": {"status", "message"?, "retry_after"?}}
         {"text", "hold": {"gate": NAME, "after_chunks"?: 2}, "chunks"?}   pauses until the gate opens
    POST /__script__/gates/NAME/open                                          -> 200
    POST /__script__/wait  {"requests"?, "held"?, "disconnected"?, "finished"?, "timeout"?: 10}
                           -> 200 {"ok": true} once at least that many chat requests are so, else 408
    GET  /__script__/requests      {"requests": [{method, path, endpoint, status, held, stalled,
                                    client_disconnected, finished, messages}]}
    GET  /__script__/status        {"pending": [reply], "unexpected": [request]}  (empty: complete)
    POST /__script__/reset         forget replies, records and gates; release held streams
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from tests.support.llm_script import (
    Gate,
    Reply,
    error_reply,
    held_reply,
    text_reply,
    tool_calls_reply,
)

if TYPE_CHECKING:
    from tests.support.llm_http import RecordedRequest

PREFIX = "/__script__/"
MAX_WAIT_SECONDS = 60.0


class ControlError(ValueError):
    """A control request the double cannot act on: answered 400 with the reason."""


class Scripted(Protocol):
    def enqueue(self, *replies: Reply) -> None: ...

    def reset(self) -> None: ...

    def pending_replies(self) -> list[Reply]: ...

    @property
    def requests(self) -> list[RecordedRequest]: ...

    def wait_for(self, predicate: Any, timeout: float) -> bool: ...


class Gates:
    """Named gates, so a test in another process can hold a stream and release it later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[str, Gate] = {}

    def get(self, name: str) -> Gate:
        with self._lock:
            return self._gates.setdefault(name, Gate())

    def clear(self) -> None:
        with self._lock:
            self._gates.clear()


def handle(llm: Scripted, gates: Gates, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for one control request."""
    action = path[len(PREFIX):].strip("/")
    try:
        if method == "POST" and action == "reply":
            replies = [build_reply(spec, gates) for spec in _specs(body)]
            llm.enqueue(*replies)
            return 201, {"queued": len(replies)}
        if method == "POST" and action.startswith("gates/") and action.endswith("/open"):
            gates.get(action[len("gates/"):-len("/open")]).open()
            return 200, {"opened": True}
        if method == "POST" and action == "wait":
            return _wait(llm, body if isinstance(body, dict) else {})
        if method == "GET" and action == "requests":
            return 200, {"requests": [_request_json(r) for r in llm.requests if r.endpoint == "chat"]}
        if method == "GET" and action == "status":
            return 200, {"pending": [r.describe() for r in llm.pending_replies()],
                         "unexpected": [f"{r.method} {r.path} (status {r.status})" for r in llm.requests
                                        if r.unexpected]}
        if method == "POST" and action == "reset":
            llm.reset()
            gates.clear()
            return 200, {"reset": True}
    except ControlError as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"unknown control request {method} {path}"}


def _specs(body: Any) -> list[Mapping[str, Any]]:
    specs = body.get("replies") if isinstance(body, dict) and "replies" in body else [body]
    if not isinstance(specs, list) or not specs or not all(isinstance(s, dict) for s in specs):
        raise ControlError("send a reply object, or {\"replies\": [reply, ...]}")
    return specs


def build_reply(spec: Mapping[str, Any], gates: Gates) -> Reply:
    known = {"text", "chunks", "usage", "tool_calls", "error", "hold"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ControlError(f"unknown reply key(s): {', '.join(unknown)}")
    chunks = _integer(spec.get("chunks", 3), "chunks")
    usage = _usage(spec.get("usage"))
    if "error" in spec:
        error = spec["error"]
        if not isinstance(error, dict) or not isinstance(error.get("status"), int):
            raise ControlError("error needs {\"status\": <HTTP status>}")
        return error_reply(error["status"], error.get("message"), retry_after=error.get("retry_after"))
    if "tool_calls" in spec:
        calls = spec["tool_calls"]
        if not isinstance(calls, list) or not calls or not all(isinstance(c, dict) and "name" in c for c in calls):
            raise ControlError("tool_calls must be a non-empty list of {\"name\", \"arguments\"}")
        return tool_calls_reply(calls, text=spec.get("text"), chunks=chunks, usage=usage)
    text = spec.get("text")
    if not isinstance(text, str) or not text:
        raise ControlError("a reply needs text, tool_calls or error")
    if "hold" in spec:
        hold = spec["hold"]
        if not isinstance(hold, dict) or not isinstance(hold.get("gate"), str) or not hold["gate"]:
            raise ControlError("hold needs {\"gate\": NAME}")
        return held_reply(text, gates.get(hold["gate"]), after_chunks=_integer(hold.get("after_chunks", 2),
                                                                                "after_chunks"),
                          chunks=chunks, usage=usage)
    return text_reply(text, chunks=chunks, usage=usage)


def _integer(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ControlError(f"{name} must be a positive integer")
    return value


def _usage(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise ControlError("usage must be [prompt_tokens, completion_tokens]")
    return value[0], value[1]


_COUNTS = {
    "requests": lambda r: True,
    "held": lambda r: r.held,
    "disconnected": lambda r: r.client_disconnected,
    "finished": lambda r: r.finished_at is not None,
}


def _wait(llm: Scripted, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    wanted = {key: body[key] for key in _COUNTS if key in body}
    if not wanted or not all(isinstance(v, int) and not isinstance(v, bool) for v in wanted.values()):
        raise ControlError(f"wait for one of {', '.join(_COUNTS)}: a count of chat requests")
    timeout = body.get("timeout", 10)
    if not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_WAIT_SECONDS:
        raise ControlError(f"timeout must be a number of seconds up to {MAX_WAIT_SECONDS:g}")

    def counts() -> dict[str, int]:
        chat = [r for r in llm.requests if r.endpoint == "chat"]
        return {key: sum(1 for r in chat if _COUNTS[key](r)) for key in wanted}

    ok = llm.wait_for(lambda: all(counts()[key] >= n for key, n in wanted.items()), float(timeout))
    return (200 if ok else 408), {"ok": ok, "counts": counts()}


def _request_json(r: RecordedRequest) -> dict[str, Any]:
    return {"method": r.method, "path": r.path, "endpoint": r.endpoint, "status": r.status, "held": r.held,
            "stalled": r.stalled, "client_disconnected": r.client_disconnected,
            "finished": r.finished_at is not None, "messages": r.messages}
