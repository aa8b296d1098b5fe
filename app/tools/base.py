"""What a tool is: one object holding what the model is told about it and the code that runs it.

A tool captures nothing at import time. Whatever it needs to run (settings, the SQL executor,
the owner pool) arrives in `ctx.services`, built once per worker process, so a tool is a plain
module-level constant that the web process can describe without connecting to anything.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the types only: describing a tool must not need a database driver
    from celery import Celery
    from psycopg_pool import ConnectionPool

    from app.sql.cancel import CancelToken
    from app.sql.executor import SqlExecutor
    from config import Settings

__all__ = ["Tool", "ToolContext", "ToolError", "ToolServices"]

# What every provider accepts as a function name (OpenAI's rule is the narrowest).
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


class ToolError(Exception):
    """A refusal or failure the model should read and may recover from."""


@dataclass(frozen=True)
class ToolServices:
    """The process-wide things tools use at run time; the worker builds one and shares it."""

    settings: Settings
    sql: SqlExecutor
    db: ConnectionPool  # the owner pool: for the audit trail, never for model-written SQL
    # The Celery client submit_job sends jobs with (app/jobs.py); None where no job can be sent.
    celery: Celery | None = None


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may know about the turn it runs in. Secret values are not here: only a resolver."""

    conversation_id: str
    turn_id: str
    message_id: str
    chatbot_id: str
    chatbot_config: dict
    user_id: str | None
    role: str
    claims: dict
    emit: Callable[[dict], None]
    cancel: CancelToken
    services: ToolServices
    # Resolve a secret setting's value at execution time; None when the turn has none. Called by a
    # tool only at the moment a value must go out (http_get, after its host was checked).
    secrets: Callable[[str], str | None] | None = None
    # Known secret values out of a text (each back to its placeholder); the registry applies it to
    # every result before the model, the transcript or the history see it. None: the turn has none.
    scrub: Callable[[str], str] | None = None
    # Asked before a call runs (after its arguments and scope were checked): None lets it run, a text
    # is what the model reads instead (denied, not approved). None: no approval step (workers/approval_gate.py).
    approval: Callable[[str, dict, ToolContext], str | None] | None = None


@dataclass(frozen=True, kw_only=True)
class Tool:
    """`run(ctx, arguments)` returns the text the model reads; raising `ToolError` tells it why not.

    `parameters` is the JSON schema of `arguments`, shared by every chatbot: treat it as read-only
    and take copies from `ToolRegistry.definition`. `scope` is the permission a caller needs, or
    None when the chatbot's own allow-lists gate the tool; the registry checks it before `run`.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    scope: str | None
    run: Callable[[ToolContext, dict], str]
    # Called with the refusal text when the registry refuses the call before `run` (a missing
    # scope), so a tool with an audit trail or a client event records that refusal like its own.
    on_refused: Callable[[ToolContext, dict, str], None] | None = None

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"tool name {self.name!r} must be lower-case letters, digits and '_' (1-64)")
        if not self.description.strip():
            raise ValueError(f"tool {self.name} needs a description (it is what the model reads)")
