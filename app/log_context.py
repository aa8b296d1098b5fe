"""What a log line is about: the turn, conversation and chatbot in whose context it was logged.

The turn runner (workers/turn.py) and the socket handler (app/web/ws.py, app/chat/session.py) open a
`scope` for what they run; every line logged inside it, in its greenlet or thread (and in contexts
copied from it, as the tool loop copies for parallel tools), carries those fields in the JSON log
format (app/log_json.py). Ids only: nothing a user wrote, nothing secret.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["add", "current", "scope"]

_EMPTY: dict[str, str] = {}
_FIELDS: ContextVar[dict[str, str]] = ContextVar("fluxbase_log_fields", default=_EMPTY)


@contextmanager
def scope(**fields: str | None) -> Iterator[None]:
    """Lines logged inside carry these fields (and the enclosing scope's); None values are left out."""
    token = _FIELDS.set({**_FIELDS.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def add(**fields: str | None) -> None:
    """Add fields to the innermost scope, once they are known (a turn's chatbot, after its plan).
    Outside any scope it does nothing: a field must not outlive what it describes."""
    current_fields = _FIELDS.get()
    if current_fields is not _EMPTY:
        current_fields.update({k: str(v) for k, v in fields.items() if v is not None})


def current() -> dict[str, str]:
    return _FIELDS.get()
