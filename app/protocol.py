"""The wire protocol's vocabulary in one place: every server-to-client event, every error code and its
fixed text, and the HTTP status each code takes on the REST API.

Both sides build events only through the constructors here, and the SDKs are checked against
`describe()` (`python -m app.protocol` prints it as JSON). docs/chat.md documents each entry; a
test keeps the two in step.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Code(StrEnum):
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    AUTH_EXPIRED = "AUTH_EXPIRED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    FORBIDDEN = "FORBIDDEN"
    CHATBOT_NOT_FOUND = "CHATBOT_NOT_FOUND"
    AMBIGUOUS_CHATBOT = "AMBIGUOUS_CHATBOT"
    CONVERSATION_NOT_FOUND = "CONVERSATION_NOT_FOUND"
    NO_SESSION = "NO_SESSION"
    TURN_IN_PROGRESS = "TURN_IN_PROGRESS"
    TURN_LIMIT = "TURN_LIMIT"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    DAILY_LIMIT_EXCEEDED = "DAILY_LIMIT_EXCEEDED"
    TOKEN_BUDGET_EXCEEDED = "TOKEN_BUDGET_EXCEEDED"
    NO_PROVIDER = "NO_PROVIDER"
    PROVIDER_AUTH_FAILED = "PROVIDER_AUTH_FAILED"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    SETTINGS_MISSING = "SETTINGS_MISSING"
    SETTING_NOT_FOUND = "SETTING_NOT_FOUND"
    SETTING_EXISTS = "SETTING_EXISTS"
    INVALID_REQUEST = "INVALID_REQUEST"
    INVALID_CONFIG = "INVALID_CONFIG"
    INVALID_PROVIDER_CONFIG = "INVALID_PROVIDER_CONFIG"
    PROVIDER_NOT_FOUND = "PROVIDER_NOT_FOUND"
    PROVIDER_EXISTS = "PROVIDER_EXISTS"
    KNOWLEDGE_BASE_NOT_FOUND = "KNOWLEDGE_BASE_NOT_FOUND"
    KNOWLEDGE_BASE_EXISTS = "KNOWLEDGE_BASE_EXISTS"
    DOCUMENT_NOT_FOUND = "DOCUMENT_NOT_FOUND"
    INVALID_DOCUMENT = "INVALID_DOCUMENT"
    DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
    APPROVAL_NOT_FOUND = "APPROVAL_NOT_FOUND"
    APPROVAL_CLOSED = "APPROVAL_CLOSED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class ErrorSpec:
    code: Code
    text: str          # the default human text; `fixed` texts are part of the contract and never reworded
    http_status: int   # the status the code takes on the REST API
    fixed: bool = False
    when: str = ""


_SPECS = (
    ErrorSpec(Code.AUTH_REQUIRED, "Authentication required", 401, when="the chatbot needs a signed-in user, or an admin endpoint was called without credentials"),
    ErrorSpec(Code.AUTH_INVALID, "Invalid credentials", 401, when="a token or key was presented but is wrong or expired (HTTP, before the upgrade)"),
    ErrorSpec(Code.AUTH_EXPIRED, "The token has expired; send a fresh one in an auth frame", 401, when="the socket's token expired; `start_chat` and `message` are refused until an `auth` frame renews it"),
    ErrorSpec(Code.ORIGIN_NOT_ALLOWED, "Origin not allowed", 403, when="a browser origin outside ALLOWED_ORIGINS"),
    ErrorSpec(Code.FORBIDDEN, "Admin access required", 403, when="a valid caller without the needed role"),
    ErrorSpec(Code.CHATBOT_NOT_FOUND, "Chatbot not found or disabled", 404, fixed=True, when="unknown, disabled, or not visible to this caller"),
    ErrorSpec(Code.AMBIGUOUS_CHATBOT, "Chatbot exists in several namespaces", 409, when="a name found in several namespaces and no namespace given"),
    ErrorSpec(Code.CONVERSATION_NOT_FOUND, "Conversation not found", 404, when="does not exist, has expired, or belongs to another user or chatbot"),
    ErrorSpec(Code.NO_SESSION, "No active chat session", 409, fixed=True, when="a frame for a conversation not started on this socket"),
    ErrorSpec(Code.TURN_IN_PROGRESS, "A turn is already in progress for this conversation", 409, when="a message while the previous turn still runs"),
    ErrorSpec(Code.TURN_LIMIT, "Conversation turn limit reached", 429, fixed=True, when="@fluxbase:max-turns reached"),
    ErrorSpec(Code.RATE_LIMIT_EXCEEDED, "Rate limit exceeded", 429, fixed=True, when="more than @fluxbase:rate-limit requests in the last minute; with `limit: \"frames\"` a socket over WS_FRAMES_PER_SECOND, with `limit: \"conversations\"` a caller over CONVERSATIONS_PER_MINUTE"),
    ErrorSpec(Code.DAILY_LIMIT_EXCEEDED, "Daily limit exceeded", 429, fixed=True, when="more than @fluxbase:daily-limit requests since 00:00 UTC"),
    ErrorSpec(Code.TOKEN_BUDGET_EXCEEDED, "Token budget exceeded", 429, fixed=True, when="@fluxbase:token-budget tokens used since 00:00 UTC"),
    ErrorSpec(Code.NO_PROVIDER, "No AI provider configured", 503, fixed=True, when="no provider for this chatbot"),
    ErrorSpec(Code.PROVIDER_AUTH_FAILED, "Provider authentication failed", 502, fixed=True, when="the provider answered 401/403"),
    ErrorSpec(Code.PROVIDER_ERROR, "AI provider not available", 502, fixed=True, when="timeouts, 429, 5xx, cut or malformed streams (the text adds a detail)"),
    ErrorSpec(Code.MESSAGE_TOO_LARGE, "Message too large", 413, when="a frame over WS_MAX_FRAME_BYTES or content over 32,000 characters; a REST body over 8 MiB"),
    ErrorSpec(Code.INVALID_MESSAGE, "Invalid message", 400, when="not a JSON object, a missing or ill-typed field, text PostgreSQL cannot store"),
    ErrorSpec(Code.UNKNOWN_TYPE, "Unknown frame type", 400, when="a frame `type` the server does not know"),
    ErrorSpec(Code.SETTINGS_MISSING, "A required setting is missing", 400, when="a setting named in @fluxbase:required-settings has no value (the text names it)"),
    ErrorSpec(Code.SETTING_NOT_FOUND, "Setting not found", 404, when="a settings API call for a key that has no setting of that kind in that scope"),
    ErrorSpec(Code.SETTING_EXISTS, "A setting with this key exists", 409, when="creating a setting that exists, or writing a secret over a plain setting (or back) without deleting it first"),
    ErrorSpec(Code.INVALID_REQUEST, "Invalid request", 400, when="a REST body or parameter that is malformed"),
    ErrorSpec(Code.INVALID_CONFIG, "Invalid chatbot configuration", 400, when="a chatbot `config` value that fails validation"),
    ErrorSpec(Code.INVALID_PROVIDER_CONFIG, "Invalid provider configuration", 400, when="a provider body that fails validation (`field` names the key, e.g. `config.endpoint`)"),
    ErrorSpec(Code.PROVIDER_NOT_FOUND, "Provider not found", 404, when="an unknown provider id or name; a turn in a conversation an admin pinned to a provider that was deleted or disabled since"),
    ErrorSpec(Code.PROVIDER_EXISTS, "A provider with this name exists", 409, when="creating a provider under a name in use"),
    ErrorSpec(Code.KNOWLEDGE_BASE_NOT_FOUND, "Knowledge base not found", 404, when="an unknown knowledge base id (or name in the namespace)"),
    ErrorSpec(Code.KNOWLEDGE_BASE_EXISTS, "A knowledge base with this name exists", 409, when="creating or renaming a knowledge base onto a name in use in its namespace"),
    ErrorSpec(Code.DOCUMENT_NOT_FOUND, "Document not found", 404, when="an unknown document id in that knowledge base"),
    ErrorSpec(Code.INVALID_DOCUMENT, "The document cannot be read", 400, when="an empty file, an unsupported type, text that is not UTF-8, a broken or encrypted PDF"),
    ErrorSpec(Code.DOCUMENT_TOO_LARGE, "The document is too large", 413, when="a document over the size, text or page limits of docs/knowledge.md"),
    ErrorSpec(Code.APPROVAL_NOT_FOUND, "Approval not found", 404, fixed=True, when="an `approve` or `deny` frame for an approval id that does not exist or is not this caller's to answer"),
    ErrorSpec(Code.APPROVAL_CLOSED, "The approval was already decided or has expired", 409, fixed=True, when="an `approve` or `deny` frame for an approval that is no longer pending"),
    ErrorSpec(Code.NOT_FOUND, "Not found", 404, when="an unknown REST path"),
    ErrorSpec(Code.METHOD_NOT_ALLOWED, "Method not allowed", 405, when="a REST path called with a method it does not take"),
    ErrorSpec(Code.SERVICE_UNAVAILABLE, "Service temporarily unavailable; retry later", 503, when="PostgreSQL or Redis cannot be reached (`retry_after` in seconds)"),
    ErrorSpec(Code.INTERNAL_ERROR, "Internal error", 500, when="a server fault; never a consequence of what the client sent"),
)

ERRORS: Mapping[Code, ErrorSpec] = MappingProxyType({spec.code: spec for spec in _SPECS})

# Seconds a client is told to wait before retrying when a backing service is down.
SERVICE_RETRY_AFTER = 5


def text_of(code: Code) -> str:
    return ERRORS[code].text


class ProtocolError(Exception):
    """A refusal the client caused or must know about; becomes an `error` event (or a JSON error over HTTP)."""

    def __init__(self, code: Code, message: str | None = None, *, conversation_id: str | None = None,
                 retry_after: float | None = None, **extra: Any):
        self.code = Code(code)
        self.message = message or text_of(self.code)
        self.conversation_id = conversation_id
        self.retry_after = retry_after
        self.extra = extra
        super().__init__(self.message)

    @property
    def http_status(self) -> int:
        return ERRORS[self.code].http_status


# -- events ------------------------------------------------------------------------------------

class Event(StrEnum):
    CHAT_STARTED = "chat_started"
    AUTHENTICATED = "authenticated"
    PROGRESS = "progress"
    CONTENT = "content"
    QUERY_RESULT = "query_result"
    TOOL_RESULT = "tool_result"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_RESULT = "approval_result"
    EVENTS_LOST = "events_lost"
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"


ENDINGS = frozenset({Event.DONE, Event.CANCELLED, Event.ERROR})

# Fields every event may carry (connection-level ones have no conversation_id or seq).
COMMON_FIELDS = ("type", "conversation_id", "seq", "message_id")

# Every other field each event may carry, whoever adds it (the constructors below, the replay buffer's
# `replay_truncated`/`rows_kept`, a recovered ending's `content`/`recovered`, a limit's `limit`). The
# SDKs' event types are checked against this table (describe()), and the constructors against it.
EVENT_FIELDS: Mapping[Event, tuple[str, ...]] = MappingProxyType({
    Event.CHAT_STARTED: ("chatbot", "resumed"),
    Event.AUTHENTICATED: ("expires_at",),
    Event.PROGRESS: ("step", "message"),
    Event.CONTENT: ("delta",),
    Event.QUERY_RESULT: ("query", "summary", "row_count", "data", "truncated", "error", "replay_truncated",
                         "rows_kept"),
    Event.TOOL_RESULT: ("tool", "data", "error"),
    Event.APPROVAL_REQUIRED: ("approval_id", "tool", "description", "sql", "preview", "expires_at"),
    Event.APPROVAL_RESULT: ("approval_id", "decision", "reason"),
    Event.EVENTS_LOST: ("first_seq", "last_seq"),
    Event.DONE: ("usage", "content", "recovered"),
    Event.CANCELLED: ("content", "recovered"),
    Event.ERROR: ("code", "error", "retry_after", "limit", "content", "recovered"),
})


class Step(StrEnum):
    THINKING = "thinking"
    SEARCHING_KNOWLEDGE = "searching_knowledge"
    GENERATING = "generating"
    QUERYING = "querying"
    EXECUTING = "executing"


def _event(kind: Event, **fields: Any) -> dict[str, Any]:
    # Fields with no value are omitted (PROTOCOL.md section 3).
    return {"type": kind.value, **{k: v for k, v in fields.items() if v is not None}}


def is_ending(event: Mapping[str, Any]) -> bool:
    return event.get("type") in ENDINGS


def chat_started(conversation_id: str, chatbot: str, resumed: bool, seq: int) -> dict[str, Any]:
    return _event(Event.CHAT_STARTED, conversation_id=conversation_id, seq=seq, chatbot=chatbot, resumed=resumed)


def authenticated(expires_at: int | None) -> dict[str, Any]:
    return _event(Event.AUTHENTICATED, expires_at=expires_at)


def progress(step: Step, message: str) -> dict[str, Any]:
    return _event(Event.PROGRESS, step=step.value, message=message)


def content(delta: str) -> dict[str, Any]:
    return _event(Event.CONTENT, delta=delta)


def query_result(query: str, *, summary: str | None = None, row_count: int = 0, data: list | None = None,
                 truncated: bool = False, error: str | None = None) -> dict[str, Any]:
    return _event(Event.QUERY_RESULT, query=query, summary=summary, row_count=row_count,
                  data=[] if data is None else data, truncated=truncated, error=error)


def tool_result(tool: str, data: Any = None, error: str | None = None) -> dict[str, Any]:
    return _event(Event.TOOL_RESULT, tool=tool, data=data, error=error)


def approval_required(approval_id: str, tool: str, description: str, *, sql: str | None = None,
                      preview: Mapping[str, Any] | None = None, expires_at: str) -> dict[str, Any]:
    """A tool call waits for the user's `approve` or `deny` frame (docs/approval.md)."""
    return _event(Event.APPROVAL_REQUIRED, approval_id=approval_id, tool=tool, description=description, sql=sql,
                  preview=dict(preview) if preview is not None else None, expires_at=expires_at)


def approval_result(approval_id: str, decision: str, reason: str | None = None) -> dict[str, Any]:
    """How a pending approval ended: `approved`, `denied` or `expired`."""
    return _event(Event.APPROVAL_RESULT, approval_id=approval_id, decision=decision, reason=reason)


def events_lost(first_seq: int | None, last_seq: int | None, message_id: str | None = None) -> dict[str, Any]:
    """Some events of this conversation will never arrive (Redis lost them); the turn's ending then
    carries the stored answer in `content`."""
    return _event(Event.EVENTS_LOST, first_seq=first_seq, last_seq=last_seq, message_id=message_id)


def done(usage: Mapping[str, int]) -> dict[str, Any]:
    return _event(Event.DONE, usage=dict(usage))


def cancelled() -> dict[str, Any]:
    return _event(Event.CANCELLED)


def error(code: Code, message: str | None = None, *, retry_after: float | None = None,
          **extra: Any) -> dict[str, Any]:
    code = Code(code)
    return _event(Event.ERROR, code=code.value, error=message or text_of(code), retry_after=retry_after, **extra)


def error_from(exc: ProtocolError) -> dict[str, Any]:
    return error(exc.code, exc.message, retry_after=exc.retry_after, **exc.extra)


def describe() -> dict[str, Any]:
    """The machine-readable protocol, for checking SDKs against this server."""
    return {
        "events": [kind.value for kind in Event],
        "endings": sorted(kind.value for kind in ENDINGS),
        "common_fields": list(COMMON_FIELDS),
        "event_fields": {kind.value: list(EVENT_FIELDS[kind]) for kind in Event},
        "progress_steps": [step.value for step in Step],
        "errors": {spec.code.value: {"text": spec.text, "fixed": spec.fixed, "http_status": spec.http_status}
                   for spec in _SPECS},
    }


ERRORS_BEGIN = "<!-- protocol-errors:begin -->"
ERRORS_END = "<!-- protocol-errors:end -->"


def errors_table() -> str:
    """The error codes as docs/chat.md shows them (kept current by a test)."""
    lines = ["| code | text | HTTP | when |", "|---|---|---|---|"]
    for spec in _SPECS:
        text = f"`{spec.text}`" + (" (fixed)" if spec.fixed else "")
        lines.append(f"| `{spec.code.value}` | {text} | {spec.http_status} | {spec.when} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        from config.docs import write_into

        write_into(sys.argv[2] if len(sys.argv) > 2 else "docs/chat.md", errors_table(), ERRORS_BEGIN, ERRORS_END)
    else:
        print(json.dumps(describe(), indent=2))
