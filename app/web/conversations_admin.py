"""Admin conversation endpoints (PROTOCOL.md section 5); every route needs an admin caller (the
service key or an admin JWT).

    GET /api/v1/admin/ai/conversations?chatbot_id=&user_id=&status=active&limit=&offset=
        {conversations: [conversation], total, total_count, has_more, limit, offset}
    GET /api/v1/admin/ai/conversations/<id>/messages?limit=&offset=
        {messages: [message], total, has_more, limit, offset}
    PATCH /api/v1/admin/ai/conversations/<id>  {"provider": NAME | ID | null}
        conversation: pin it to a provider, or remove the pin (app/providers/pinning.py)

The shapes follow Fluxbase's server (internal/ai/handler_metrics.go) where our tables hold the same
thing; `total` is every match (Fluxbase's `total_count`, also given), not the page's length.
Messages here are all of them: tool calls and tool results included. Expired conversations are
absent, as everywhere. Unknown, repeated or malformed parameters are 400 INVALID_REQUEST with
`field`; an unknown, expired or malformed conversation id is 404 CONVERSATION_NOT_FOUND. A pin names an
enabled provider (404 PROVIDER_NOT_FOUND, 400 INVALID_REQUEST for a disabled one); end users cannot
set it (their PATCH takes only a title), as it spends a provider's budget they were not given.
"""
from __future__ import annotations

from flask import Blueprint, request

from app.chat import conversation_queries as queries
from app.protocol import Code, ProtocolError
from app.providers.admin import ProviderNotFound
from app.providers.pinning import ProviderDisabled, pin_target
from app.web.auth import require_admin
from app.web.context import web_context
from app.web.conversation_json import admin_conversation_object, admin_message_object
from app.web.json_body import object_body
from app.web.query_params import QueryParams

bp = Blueprint("conversations_admin", __name__, url_prefix="/api/v1/admin/ai/conversations")

DEFAULT_LIMIT = 50           # Fluxbase's default
MAX_LIMIT = 1000
MAX_OFFSET = 1_000_000_000

_LIST_PARAMS = ("chatbot_id", "user_id", "status", "limit", "offset")
_PAGE_PARAMS = ("limit", "offset")
_PATCH_KEYS = ("provider",)


@bp.before_request
def _admins_only() -> None:
    require_admin()


def _page(params: QueryParams, default: int = DEFAULT_LIMIT) -> tuple[int, int]:
    return (params.integer("limit", default, low=1, high=MAX_LIMIT),
            params.integer("offset", 0, low=0, high=MAX_OFFSET))


@bp.get("")
def list_all():
    params = QueryParams(request.args, _LIST_PARAMS)
    chatbot_id, user_id = params.uuid("chatbot_id"), params.uuid("user_id")
    # Fluxbase's filter; every conversation here is active (a deleted or expired one is gone).
    params.choice("status", ("active",))
    limit, offset = _page(params)
    with web_context().runtime.db.connection() as conn:
        page = queries.list_all(conn, chatbot_id=chatbot_id, user_id=user_id, limit=limit, offset=offset)
    return {"conversations": [admin_conversation_object(row) for row in page.items], "total": page.total,
            "total_count": page.total, "has_more": offset + len(page.items) < page.total,
            "limit": limit, "offset": offset}


@bp.get("/<conversation_id>/messages")
def messages(conversation_id: str):
    params = QueryParams(request.args, _PAGE_PARAMS)
    limit, offset = _page(params, MAX_LIMIT)  # Fluxbase gives every message: a page as large as allowed
    with web_context().runtime.db.connection() as conn:
        row = queries.get_any(conn, conversation_id)
        if row is None:
            raise ProtocolError(Code.CONVERSATION_NOT_FOUND)
        page = queries.all_messages(conn, row.id, limit=limit, offset=offset)
    return {"messages": [admin_message_object(item, row.id) for item in page.items], "total": page.total,
            "has_more": offset + len(page.items) < page.total, "limit": limit, "offset": offset}


@bp.patch("/<conversation_id>")
def update(conversation_id: str):
    body = object_body(_PATCH_KEYS)
    if "provider" not in body:
        raise ProtocolError(Code.INVALID_REQUEST, 'nothing to change: send {"provider": NAME} or {"provider": null}',
                            field="provider")
    ref = body["provider"]
    if ref is not None and (not isinstance(ref, str) or not ref or len(ref) > 100):
        raise ProtocolError(Code.INVALID_REQUEST, "provider must be a provider's name or id, or null",
                            field="provider")
    context = web_context()
    with context.runtime.db.connection() as conn:
        name = None
        if ref is not None:
            try:
                name = pin_target(conn, context.settings, ref)
            except ProviderNotFound:
                raise ProtocolError(Code.PROVIDER_NOT_FOUND, f"no provider {ref[:63]!r} (see GET "
                                    "/api/v1/admin/ai/providers)", field="provider") from None
            except ProviderDisabled as exc:
                raise ProtocolError(Code.INVALID_REQUEST, str(exc), field="provider") from None
        if not queries.pin_provider(conn, conversation_id, name):
            raise ProtocolError(Code.CONVERSATION_NOT_FOUND)
        row = queries.get_any(conn, conversation_id)
    if row is None:   # expired between the two statements
        raise ProtocolError(Code.CONVERSATION_NOT_FOUND)
    return admin_conversation_object(row)


