"""User-facing chatbot discovery: GET /api/v1/ai/chatbots and /api/v1/ai/chatbots/by-name/<name>.

Visibility: a disabled chatbot is invisible to everyone here. Anonymous callers (no
credentials, or the anon key) see only chatbots that allow unauthenticated use after the
server policy is applied. `is_public` decides listing only: an unlisted chatbot is still
found by name, like an unlisted link.
"""
from __future__ import annotations

from flask import Blueprint, request

from app.auth.request import Principal
from app.chatbots import repository as repo
from app.chatbots.discovery import DEFAULT_NAMESPACE
from app.chatbots.policy import allows_anonymous, server_policy
from app.chatbots.spec import ServerPolicy, is_valid_name
from app.protocol import Code, ProtocolError
from app.web.auth import current_principal
from app.web.chatbot_json import public_object
from app.web.context import web_context

bp = Blueprint("chatbots_public", __name__, url_prefix="/api/v1/ai/chatbots")



def _visible(row: repo.ChatbotRow, principal: Principal, policy: ServerPolicy) -> bool:
    return row.enabled and (not principal.anonymous or allows_anonymous(row.config, policy))


def _context() -> tuple[Principal, ServerPolicy]:
    # Credentials first: a bad token is a 401 even where nothing would be found.
    principal = current_principal()
    return principal, server_policy(web_context().settings)


@bp.get("")
def list_public():
    principal, policy = _context()
    with web_context().runtime.db.connection() as conn:
        rows = repo.list_chatbots(conn, public_only=True, enabled_only=True)
    chatbots = [public_object(row) for row in rows if _visible(row, principal, policy)]
    return {"chatbots": chatbots, "count": len(chatbots)}


@bp.get("/by-name/<name>")
def by_name(name: str):
    principal, policy = _context()
    namespace = request.args.get("namespace") or None
    if not is_valid_name(name) or (namespace is not None and not is_valid_name(namespace)):
        raise ProtocolError(Code.CHATBOT_NOT_FOUND)
    with web_context().runtime.db.connection() as conn:
        if namespace is not None:
            row = repo.get_by_name(conn, namespace, name)
            rows = [] if row is None else [row]
        else:
            rows = repo.find_by_name(conn, name)
    # Only visible candidates count, so an ambiguity never reveals a chatbot the caller cannot see.
    rows = [row for row in rows if _visible(row, principal, policy)]
    if not rows:
        raise ProtocolError(Code.CHATBOT_NOT_FOUND)
    if len(rows) > 1:
        preferred = [row for row in rows if row.namespace == DEFAULT_NAMESPACE]
        if not preferred:
            namespaces = [row.namespace for row in rows]
            raise ProtocolError(Code.AMBIGUOUS_CHATBOT,
                           f"Chatbot {name!r} exists in several namespaces ({', '.join(namespaces)}); "
                           "pass ?namespace=", namespaces=namespaces)
        rows = preferred
    return public_object(rows[0])
