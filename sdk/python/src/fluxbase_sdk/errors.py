"""The SDK's exceptions. REST calls raise them instead of returning `{data, error}`; chat calls raise
them for refusals of what they asked (a chatbot that cannot be opened, a socket that cannot connect).

Every error carries the server's `code` (the protocol's error code, e.g. `CHATBOT_NOT_FOUND`), the
HTTP `status` when there was one, `retry_after` (seconds) when waiting helps, and `details`: the rest
of the server's error body (`field`, `namespaces`, `limit`...).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Codes the SDK itself gives, for failures no server answer describes.
CONNECTION_FAILED = "CONNECTION_FAILED"
DISCONNECTED = "DISCONNECTED"
TIMEOUT = "TIMEOUT"
BAD_RESPONSE = "BAD_RESPONSE"
INVALID_ARGUMENT = "INVALID_ARGUMENT"


class FluxbaseError(Exception):
    """Anything the server refused, or a failure to reach it."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None, details: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.details = dict(details or {})

    def __str__(self) -> str:
        return f"{self.message} ({self.code})" if self.code else self.message


class AuthError(FluxbaseError):
    """Missing, invalid or expired credentials (401), or a caller without the needed role (403)."""


class NotFoundError(FluxbaseError):
    """404: an unknown chatbot, conversation, provider... (or one this caller may not see)."""


class ConflictError(FluxbaseError):
    """409: a name in use, a turn still running, a chatbot name found in several namespaces."""


class InvalidRequestError(FluxbaseError):
    """400/413: a request the server could not accept (`details["field"]` names the bad field)."""


class LimitError(FluxbaseError):
    """429: a rate, daily, token-budget or turn limit; `retry_after` says how long to wait when known."""


class ServiceUnavailableError(FluxbaseError):
    """502/503: the server's database, Redis or AI provider cannot be reached; retry later."""


class ServerError(FluxbaseError):
    """500, or another status this SDK does not know."""


class ConnectionError(FluxbaseError):  # noqa: A001 - the SDK's own, distinct from the builtin
    """The server could not be reached, or the chat socket is gone and will not come back."""


class TimeoutError(FluxbaseError):  # noqa: A001
    """No answer within the time given."""


class ChatError(FluxbaseError):
    """An `error` event the chat turned into an exception (start_chat refused, for example)."""


_BY_STATUS = {400: InvalidRequestError, 401: AuthError, 403: AuthError, 404: NotFoundError, 405: InvalidRequestError,
              409: ConflictError, 413: InvalidRequestError, 429: LimitError, 502: ServiceUnavailableError,
              503: ServiceUnavailableError}

# The same classes for protocol codes arriving over the WebSocket, which has no HTTP status.
_BY_CODE = {
    "AUTH_REQUIRED": AuthError, "AUTH_INVALID": AuthError, "AUTH_EXPIRED": AuthError, "FORBIDDEN": AuthError,
    "ORIGIN_NOT_ALLOWED": AuthError, "CHATBOT_NOT_FOUND": NotFoundError, "CONVERSATION_NOT_FOUND": NotFoundError,
    "AMBIGUOUS_CHATBOT": ConflictError, "NO_SESSION": ConflictError, "TURN_IN_PROGRESS": ConflictError,
    "TURN_LIMIT": LimitError, "RATE_LIMIT_EXCEEDED": LimitError, "DAILY_LIMIT_EXCEEDED": LimitError,
    "TOKEN_BUDGET_EXCEEDED": LimitError, "NO_PROVIDER": ServiceUnavailableError,
    "PROVIDER_AUTH_FAILED": ServiceUnavailableError, "PROVIDER_ERROR": ServiceUnavailableError,
    "SERVICE_UNAVAILABLE": ServiceUnavailableError, "MESSAGE_TOO_LARGE": InvalidRequestError,
    "INVALID_MESSAGE": InvalidRequestError, "UNKNOWN_TYPE": InvalidRequestError,
    "SETTINGS_MISSING": InvalidRequestError, "INTERNAL_ERROR": ServerError,
}


def error_for_status(status: int, body: Any, *, retry_after_header: str | None = None) -> FluxbaseError:
    """The exception for an HTTP error answer (`body` is the decoded JSON, or None)."""
    fields = dict(body) if isinstance(body, Mapping) else {}
    message = str(fields.pop("error", "") or f"HTTP {status}")
    code = fields.pop("code", None)
    retry_after = _seconds(fields.pop("retry_after", None)) or _seconds(retry_after_header)
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else FluxbaseError)
    return cls(message, code=code, status=status, retry_after=retry_after, details=fields)


def error_for_event(event: Mapping[str, Any]) -> FluxbaseError:
    """The exception for a protocol `error` event."""
    code = event.get("code")
    details = {k: v for k, v in event.items() if k not in ("type", "code", "error", "retry_after")}
    cls = _BY_CODE.get(code or "", ChatError)
    return cls(str(event.get("error") or "Unknown error"), code=code, retry_after=_seconds(event.get("retry_after")),
               details=details)


def _seconds(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None
