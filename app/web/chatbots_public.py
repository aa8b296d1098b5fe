"""User-facing chatbot discovery, in the shapes Fluxbase's SDK reads (sdk/src/ai.ts):

    GET /api/v1/ai/chatbots                    {chatbots: [summary], count}          ai.listChatbots()
    GET /api/v1/ai/chatbots/<id>               summary                               ai.getChatbot(id)
    GET /api/v1/ai/chatbots/by-name/<name>     {chatbot: summary, ambiguous: false}  ai.lookupChatbot(name),
                                                                                     chat.startChat(name)

Visibility, as in Fluxbase: every enabled chatbot with `@fluxbase:public` on, to any caller,
anonymous ones included; a disabled or unlisted one is invisible here. Whether the caller may
*use* it is `@fluxbase:allow-unauthenticated`'s business, checked by the WebSocket at start_chat
(AUTH_REQUIRED), not here. Bad credentials are still a 401.
"""
from __future__ import annotations

from flask import Blueprint, request

from app.chatbots import repository as repo
from app.chatbots.discovery import DEFAULT_NAMESPACE
from app.chatbots.spec import is_valid_name
from app.protocol import Code, ProtocolError
from app.web.auth import current_principal
from app.web.chatbot_json import public_object
from app.web.context import web_context

bp = Blueprint("chatbots_public", __name__, url_prefix="/api/v1/ai/chatbots")


def _visible(row: repo.ChatbotRow) -> bool:
    return row.enabled and row.is_public


def _not_found() -> ProtocolError:
    # Fluxbase's lookup answers {ambiguous: false, error}; `code` is ours.
    return ProtocolError(Code.CHATBOT_NOT_FOUND, "Chatbot not found", ambiguous=False)


@bp.before_request
def _credentials_first() -> None:
    # A bad token is a 401 even where nothing would be found.
    current_principal()


@bp.get("")
def list_public():
    with web_context().runtime.db.connection() as conn:
        rows = repo.list_chatbots(conn, public_only=True, enabled_only=True)
    chatbots = [public_object(row) for row in rows if _visible(row)]
    return {"chatbots": chatbots, "count": len(chatbots)}


@bp.get("/<chatbot_id>")
def get_public(chatbot_id: str):
    # repo.get treats a string that is not a UUID as unknown: a 404, never a database error.
    with web_context().runtime.db.connection() as conn:
        row = repo.get(conn, chatbot_id)
    if row is None or not _visible(row):
        raise ProtocolError(Code.CHATBOT_NOT_FOUND, "Chatbot not found")
    return public_object(row)


@bp.get("/by-name/<name>")
def by_name(name: str):
    """Fluxbase's resolution: the only match, else the one in `default`, else 409 with the namespaces.

    `?namespace=` (our addition; the SDK does not send it) narrows the candidates to that namespace.
    """
    namespace = request.args.get("namespace") or None
    if not is_valid_name(name) or (namespace is not None and not is_valid_name(namespace)):
        raise _not_found()
    with web_context().runtime.db.connection() as conn:
        if namespace is not None:
            row = repo.get_by_name(conn, namespace, name)
            rows = [] if row is None else [row]
        else:
            rows = repo.find_by_name(conn, name)
    # Only visible candidates count, so an ambiguity never reveals a chatbot the caller cannot see.
    rows = [row for row in rows if _visible(row)]
    if not rows:
        raise _not_found()
    if len(rows) > 1:
        preferred = [row for row in rows if row.namespace == DEFAULT_NAMESPACE]
        if not preferred:
            namespaces = [row.namespace for row in rows]
            raise ProtocolError(Code.AMBIGUOUS_CHATBOT,
                                f"Chatbot '{name}' exists in multiple namespaces: {', '.join(namespaces)}. "
                                "Please specify the namespace explicitly.", ambiguous=True, namespaces=namespaces)
        rows = preferred
    return {"chatbot": public_object(rows[0]), "ambiguous": False}
