"""Who an MCP request is, and through which chatbot: the same checks as a WebSocket `start_chat`.

Credentials are read as the web reads them (app/auth/request.py): `Authorization: Bearer <user JWT>`,
or the service key. The chatbot is named by `?chatbot=NAME` (and `?namespace=`), or the headers
`X-Fluxbase-Chatbot` (and `X-Fluxbase-Namespace`); it must exist and be enabled, and a caller without
credentials gets it only when it allows anonymous use. Tools then act as the end user a turn would
act as: `authenticated` with the token's `sub`, else `anon` (service-key callers too).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from app.auth.request import principal_from_headers
from app.auth.tokens import AuthError, Principal
from app.chat.templates import require_settings
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.chatbots.spec import is_valid_name
from app.protocol import Code, ProtocolError
from app.tools.registry import ToolRegistry
from config import Settings

__all__ = ["AccessRefused", "Caller", "EndUser", "chatbot_address", "end_user_of", "resolve_caller"]

CHATBOT_HEADER = "X-Fluxbase-Chatbot"
NAMESPACE_HEADER = "X-Fluxbase-Namespace"


class AccessRefused(Exception):
    """The request is refused before MCP sees it: an HTTP status, a protocol code and a message."""

    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message
        super().__init__(message)

    @classmethod
    def of(cls, exc: ProtocolError) -> AccessRefused:
        return cls(exc.http_status, exc.code.value, exc.message)


@dataclass(frozen=True)
class EndUser:
    user_id: str | None
    role: str                         # anon | authenticated: never more than an end user's rights
    claims: dict = field(hash=False)


def end_user_of(principal: Principal) -> EndUser:
    """The rule of workers/plan.py `end_user_of`, for a caller that has no conversation row."""
    role = "authenticated" if principal.role in ("authenticated", "admin") and principal.user_id else "anon"
    claims = {"role": role, **({"sub": principal.user_id} if principal.user_id else {})}
    return EndUser(principal.user_id, role, claims)


@dataclass(frozen=True)
class Caller:
    principal: Principal
    end_user: EndUser
    chatbot: chatbots.ChatbotRecord
    tools: tuple[dict, ...] = field(hash=False)   # {name, description, parameters}: what the chatbot offers
    client_host: str | None = None                # the connection's address, for per-caller limits

    @property
    def capacity_key(self) -> str:
        """Whose share of the concurrent tool calls this call takes: the user, else the client address."""
        return f"user:{self.end_user.user_id}" if self.end_user.user_id else f"client:{self.client_host}"

    @property
    def tool_names(self) -> frozenset[str]:
        return frozenset(tool["name"] for tool in self.tools)


def chatbot_address(query: Mapping[str, str], headers: Mapping[str, str]) -> tuple[str, str]:
    """(namespace, name) from the query string, else the headers; namespace defaults to `default`."""
    name = query.get("chatbot") or headers.get(CHATBOT_HEADER)
    namespace = query.get("namespace") or headers.get(NAMESPACE_HEADER) or "default"
    if not name:
        raise AccessRefused(400, Code.INVALID_REQUEST.value,
                            f"name the chatbot: ?chatbot=NAME (and ?namespace=) or the {CHATBOT_HEADER} header")
    for kind, value in (("chatbot", name), ("namespace", namespace)):
        if not is_valid_name(value):
            raise AccessRefused(400, Code.INVALID_REQUEST.value,
                                f"invalid {kind} name (lower-case letters, digits, '-' and '_', 1-63 characters)")
    return namespace, name


def resolve_caller(settings: Settings, db: ConnectionPool, registry: ToolRegistry, headers: Mapping[str, str],
                   query: Mapping[str, str]) -> Caller:
    """The caller and its chatbot, or AccessRefused saying why not (blocking: run it in a thread)."""
    if "token" in query:
        # The web accepts it for browsers' WebSockets; here it would only end up in access logs.
        raise AccessRefused(400, Code.INVALID_REQUEST.value, "send the token as `Authorization: Bearer <token>`, "
                                                             "not in the URL")
    try:
        principal = principal_from_headers(settings, headers, query)
    except AuthError as exc:
        raise AccessRefused(401, Code.AUTH_INVALID.value, str(exc)) from None
    namespace, name = chatbot_address(query, headers)
    with db.connection() as conn:
        chatbot = chatbots.load_enabled(conn, namespace, name, policy=server_policy(settings))
        if chatbot is None:
            raise AccessRefused.of(ProtocolError(Code.CHATBOT_NOT_FOUND))
        if principal.anonymous and not chatbot.config["allow_unauthenticated"]:
            raise AccessRefused.of(ProtocolError(Code.AUTH_REQUIRED, "This chatbot requires authentication"))
        end_user = end_user_of(principal)
        try:
            require_settings(conn, chatbot.system_prompt, chatbot.config.get("required_settings", ()),
                             end_user.user_id)
        except ProtocolError as exc:
            raise AccessRefused.of(exc) from None
    return Caller(principal, end_user, chatbot, tuple(registry.offered(list(chatbot.tools))))
