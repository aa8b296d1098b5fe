"""A user's own conversations (PROTOCOL.md section 5), as Fluxbase's SDK calls them (sdk/src/ai.ts):

    GET    /api/v1/ai/conversations?chatbot=&namespace=&limit=&offset=
                                                   {conversations: [summary], total, has_more, limit, offset}
                                                   ai.listConversations(options)
    GET    /api/v1/ai/conversations/<id>           detail, with every message     ai.getConversation(id)
    PATCH  /api/v1/ai/conversations/<id>  {title}  detail                         ai.updateConversation(id, {title})
    DELETE /api/v1/ai/conversations/<id>           {deleted: true, id}            ai.deleteConversation(id)
    GET    /api/v1/ai/conversations/<id>/messages?limit=&offset=
                                                   {messages: [message], total, has_more, limit, offset}

The caller must be a signed-in user (a JWT with a `sub`): an anonymous caller's identity is not
stable from one request to the next, so it owns nothing here (401 AUTH_REQUIRED), just as it cannot
resume a conversation over the WebSocket. A conversation of anyone else, an unknown, expired or
malformed id: 404 CONVERSATION_NOT_FOUND, never a 403 (which would confirm it exists). A
conversation with a queued or running turn cannot be deleted (409 TURN_IN_PROGRESS: cancel the turn
over the socket, or wait for its end). docs/conversations.md has the shapes and examples.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, request

from app.auth.tokens import Principal
from app.chat import conversation_queries as queries
from app.chatbots.spec import is_valid_name
from app.protocol import Code, ProtocolError
from app.text import one_line
from app.web.auth import current_principal
from app.web.context import web_context
from app.web.conversation_json import detail_object, summary_object, user_message_object
from app.web.query_params import QueryParams, invalid

log = logging.getLogger(__name__)

bp = Blueprint("conversations_public", __name__, url_prefix="/api/v1/ai/conversations")

DEFAULT_LIMIT = 50           # Fluxbase's default and cap (ListConversationsOptions)
MAX_LIMIT = 100
MESSAGES_LIMIT = 1000        # messages per page of /messages
MAX_OFFSET = 1_000_000_000
MAX_TITLE = 200

_LIST_PARAMS = ("chatbot", "namespace", "limit", "offset")
_PAGE_PARAMS = ("limit", "offset")


def _owner() -> Principal:
    principal = current_principal()
    if principal.user_id is None or principal.anonymous:
        raise ProtocolError(Code.AUTH_REQUIRED, "Sign in to see your conversations: send a user JWT")
    return principal


def _not_found() -> ProtocolError:
    return ProtocolError(Code.CONVERSATION_NOT_FOUND)


def _db():
    return web_context().runtime.db.connection()


def _name(params: QueryParams, key: str) -> str | None:
    value = params.text(key)
    if value is not None and not is_valid_name(value):
        raise invalid(key, "must be a chatbot name or namespace (lower-case letters, digits, '-' and '_')")
    return value


def _page(params: QueryParams, default: int, high: int) -> tuple[int, int]:
    return (params.integer("limit", default, low=1, high=high),
            params.integer("offset", 0, low=0, high=MAX_OFFSET))


def _owned(conn, conversation_id: str, owner: Principal) -> queries.ConversationRow:
    row = queries.get_owned(conn, conversation_id, user_id=owner.user_id, user_role=owner.role)
    if row is None:
        raise _not_found()
    return row


def messages_json(conn, conversation_id: str, *, limit: int, offset: int = 0) -> tuple[list[dict], int]:
    """A page of what the user sees of a conversation, answers with the statements they ran."""
    page = queries.visible_messages(conn, conversation_id, limit=limit, offset=offset)
    turn_ids = sorted({row.turn_id for row in page.items if row.role == "assistant" and row.turn_id})
    ran = queries.executed_queries(conn, turn_ids)
    return [user_message_object(row, ran.get(row.turn_id or "", [])) for row in page.items], page.total


def _detail(conn, row: queries.ConversationRow) -> dict[str, Any]:
    # The messages as Fluxbase's getConversation gives them, up to a page of /messages (a conversation
    # of max-turns turns shows two per turn; `message_count` says when there are more).
    messages, _total = messages_json(conn, row.id, limit=MESSAGES_LIMIT)
    return detail_object(row, messages)


@bp.before_request
def _credentials_first() -> None:
    _owner()


@bp.get("")
def list_own():
    owner = _owner()
    params = QueryParams(request.args, _LIST_PARAMS)
    chatbot, namespace = _name(params, "chatbot"), _name(params, "namespace")
    limit, offset = _page(params, DEFAULT_LIMIT, MAX_LIMIT)
    with _db() as conn:
        page = queries.list_owned(conn, user_id=owner.user_id, user_role=owner.role, chatbot=chatbot,
                                  namespace=namespace, limit=limit, offset=offset)
    return {"conversations": [summary_object(row) for row in page.items], "total": page.total,
            "has_more": offset + len(page.items) < page.total, "limit": limit, "offset": offset}


@bp.get("/<conversation_id>")
def get_own(conversation_id: str):
    owner = _owner()
    with _db() as conn:
        return _detail(conn, _owned(conn, conversation_id, owner))


@bp.patch("/<conversation_id>")
def rename(conversation_id: str):
    owner = _owner()
    title = _title()
    with _db() as conn:
        if not queries.rename_owned(conn, conversation_id, title, user_id=owner.user_id, user_role=owner.role):
            raise _not_found()
        return _detail(conn, _owned(conn, conversation_id, owner))


@bp.delete("/<conversation_id>")
def delete(conversation_id: str):
    owner = _owner()
    with _db() as conn:
        outcome = queries.delete_owned(conn, conversation_id, user_id=owner.user_id, user_role=owner.role)
    if outcome is queries.Deletion.NOT_FOUND:
        raise _not_found()
    if outcome is queries.Deletion.TURN_RUNNING:
        raise ProtocolError(Code.TURN_IN_PROGRESS, "A turn is running in this conversation: cancel it or wait "
                                                   "for its end, then delete the conversation")
    forget_stream(conversation_id)
    return {"deleted": True, "id": conversation_id}


@bp.get("/<conversation_id>/messages")
def messages(conversation_id: str):
    owner = _owner()
    params = QueryParams(request.args, _PAGE_PARAMS)
    limit, offset = _page(params, MESSAGES_LIMIT, MESSAGES_LIMIT)
    with _db() as conn:
        row = _owned(conn, conversation_id, owner)
        items, total = messages_json(conn, row.id, limit=limit, offset=offset)
    return {"messages": items, "total": total, "has_more": offset + len(items) < total,
            "limit": limit, "offset": offset}


def forget_stream(conversation_id: str) -> None:
    """Its replay buffer and seq counter go with it; if Redis is away they run out by their TTL."""
    try:
        web_context().runtime.bus.forget([conversation_id])
    except Exception as exc:  # the conversation is deleted either way
        log.warning("could not drop the Redis keys of deleted conversation %s: %s", conversation_id, exc)


def _title() -> str:
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise ProtocolError(Code.INVALID_REQUEST, "the request body must be a JSON object: {\"title\": \"...\"}")
    unknown = sorted(str(key)[:40] for key in body if key != "title")
    if unknown:
        raise ProtocolError(Code.INVALID_REQUEST, f"unknown key(s): {', '.join(unknown[:5])} (allowed: title)",
                            field=unknown[0])
    title = body.get("title")
    if not isinstance(title, str):
        raise invalid("title", "is required, a string")
    title = one_line(title)
    if not title:
        raise invalid("title", "must not be empty")
    if len(title) > MAX_TITLE:
        raise invalid("title", f"must be at most {MAX_TITLE} characters (got {len(title)})")
    return title
