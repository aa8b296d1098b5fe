"""The documented callbacks, in Fluxbase's parameter order, fed from typed events.

    on_content(delta, conversation_id)
    on_progress(step, message, conversation_id)
    on_query_result(query, summary, row_count, data, conversation_id)
    on_tool_result(tool, data, error, conversation_id)
    on_done(usage, conversation_id)
    on_cancelled(conversation_id)
    on_error(error, code, conversation_id)
    on_approval_required(approval, conversation_id)      approval: the ApprovalRequired event; answer
                                         with chat.approve(...) or chat.deny(...) (docs/approval.md)
    on_approval_result(approval_id, decision, conversation_id)
    on_event(event)                      every event, typed (fluxbase_sdk.events)
    on_connection(state, info)           "connected", "reconnecting", "reconnected", "disconnected", "failed"

A callback that takes one more positional parameter than documented also gets the typed event
(for `retry_after`, `truncated`, `message_id`...). Callbacks run on the chat's reader thread; one that
raises is logged and does not stop the others or the chat.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fluxbase_sdk.events import (
    ApprovalRequired,
    ApprovalResult,
    Cancelled,
    ChatEvent,
    Content,
    Done,
    Error,
    Progress,
    QueryResult,
    ToolResult,
)

log = logging.getLogger("fluxbase_sdk")

_DOCUMENTED_ARITY = {"on_content": 2, "on_progress": 3, "on_query_result": 5, "on_tool_result": 4, "on_done": 2,
                     "on_cancelled": 1, "on_error": 3, "on_approval_required": 2, "on_approval_result": 3}


def _takes_event(callback: Callable[..., Any] | None, documented: int) -> bool:
    if callback is None:
        return False
    try:
        params = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) > documented


@dataclass
class Callbacks:
    on_event: Callable[[ChatEvent], Any] | None = None
    on_content: Callable[..., Any] | None = None
    on_progress: Callable[..., Any] | None = None
    on_query_result: Callable[..., Any] | None = None
    on_tool_result: Callable[..., Any] | None = None
    on_done: Callable[..., Any] | None = None
    on_cancelled: Callable[..., Any] | None = None
    on_error: Callable[..., Any] | None = None
    on_approval_required: Callable[..., Any] | None = None
    on_approval_result: Callable[..., Any] | None = None
    on_connection: Callable[[str, dict[str, Any]], Any] | None = None

    def __post_init__(self) -> None:
        self._extra = {name: _takes_event(getattr(self, name), n) for name, n in _DOCUMENTED_ARITY.items()}

    def dispatch(self, event: ChatEvent) -> None:
        cid = event.conversation_id
        if isinstance(event, Content):
            if event.delta:
                self._call("on_content", event, event.delta, cid)
        elif isinstance(event, Progress):
            self._call("on_progress", event, event.step, event.message, cid)
        elif isinstance(event, QueryResult):
            self._call("on_query_result", event, event.query, event.summary or "", event.row_count, event.data, cid)
        elif isinstance(event, ToolResult):
            self._call("on_tool_result", event, event.tool, event.data, event.error, cid)
        elif isinstance(event, Done):
            self._call("on_done", event, event.usage, cid)
        elif isinstance(event, Cancelled):
            self._call("on_cancelled", event, cid)
        elif isinstance(event, Error):
            self._call("on_error", event, event.error, event.code, cid)
        elif isinstance(event, ApprovalRequired):
            self._call("on_approval_required", event, event, cid)
        elif isinstance(event, ApprovalResult):
            self._call("on_approval_result", event, event.approval_id, event.decision, cid)
        if self.on_event is not None:
            _safely(self.on_event, event)

    def connection(self, state: str, **info: Any) -> None:
        if self.on_connection is not None:
            _safely(self.on_connection, state, info)

    def _call(self, name: str, event: ChatEvent, *args: Any) -> None:
        callback = getattr(self, name)
        if callback is None:
            return
        _safely(callback, *args, *((event,) if self._extra[name] else ()))


def _safely(callback: Callable[..., Any], *args: Any) -> None:
    try:
        callback(*args)
    except Exception:  # noqa: BLE001 - a caller's bug must not stop the chat's reader
        log.exception("a chat callback raised")
