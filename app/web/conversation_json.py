"""JSON shapes of conversations and messages, for the user API and the admin API.

The user's shapes are Fluxbase's SDK types (sdk/src/types.ts): AIUserConversationSummary,
AIUserConversationDetail, AIUserMessage with AIUserQueryResult and AIUserUsageStats; a few fields
are added (`created_at` and `status` on messages, `expires_at` on conversations). The admin shapes
follow Fluxbase's server (internal/ai/handler_metrics.go: ConversationSummary, MessageDetail) where
our tables hold the same thing. docs/conversations.md lists every field.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from app.chat.conversation_queries import ConversationRow, ExecutedQuery, MessageRow

_WRITE_VERBS = {"INSERT": "Inserted", "UPDATE": "Updated", "DELETE": "Deleted", "MERGE": "Merged"}


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_object(row: ConversationRow) -> dict[str, Any]:
    """A conversation in the user's list (AIUserConversationSummary)."""
    return {"id": row.id, "chatbot": row.chatbot, "namespace": row.namespace, "title": row.title,
            "preview": row.preview, "message_count": row.message_count, "created_at": _time(row.created_at),
            "updated_at": _time(row.updated_at), "expires_at": _time(row.expires_at)}


def detail_object(row: ConversationRow, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """One conversation with its messages (AIUserConversationDetail)."""
    return {"id": row.id, "chatbot": row.chatbot, "namespace": row.namespace, "title": row.title,
            "created_at": _time(row.created_at), "updated_at": _time(row.updated_at),
            "expires_at": _time(row.expires_at), "message_count": row.message_count, "messages": messages}


def user_message_object(row: MessageRow, queries: list[ExecutedQuery] = ()) -> dict[str, Any]:
    """A message as its user sees it (AIUserMessage): `usage` and `query_results` on answers only."""
    message: dict[str, Any] = {"id": row.id, "role": row.role, "content": row.content,
                               "timestamp": _time(row.created_at), "created_at": _time(row.created_at),
                               "status": row.status}
    if row.role == "assistant":
        if queries:
            message["query_results"] = [_query_result(query) for query in queries]
        if row.prompt_tokens is not None or row.completion_tokens is not None:
            message["usage"] = _usage(row)
    return message


def admin_conversation_object(row: ConversationRow) -> dict[str, Any]:
    """A conversation in the admins' list (Fluxbase's ConversationSummary, plus ours)."""
    return {"id": row.id, "chatbot_id": row.chatbot_id, "chatbot_name": row.chatbot, "chatbot": row.chatbot,
            "namespace": row.namespace, "user_id": row.user_id, "user_role": row.user_role, "title": row.title,
            "status": "active", "persisted": row.persisted, "turn_count": row.turn_count,
            "message_count": row.message_count, "preview": row.preview,
            "total_prompt_tokens": row.prompt_tokens, "total_completion_tokens": row.completion_tokens,
            "created_at": _time(row.created_at), "updated_at": _time(row.updated_at),
            "last_message_at": _time(row.last_message_at), "expires_at": _time(row.expires_at),
            "provider": row.provider_name}


def admin_message_object(row: MessageRow, conversation_id: str) -> dict[str, Any]:
    """A stored message, tool calls and results included (Fluxbase's MessageDetail, plus ours)."""
    return {"id": row.id, "conversation_id": conversation_id, "turn_id": row.turn_id, "role": row.role,
            "content": row.content, "tool_calls": row.tool_calls, "tool_call_id": row.tool_call_id,
            "tool_name": row.tool_name, "status": row.status, "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens, "usage_estimated": row.usage_estimated,
            "created_at": _time(row.created_at), "sequence_number": row.ordinal}


def _usage(row: MessageRow) -> dict[str, Any]:
    prompt, completion = row.prompt_tokens or 0, row.completion_tokens or 0
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if row.usage_estimated:  # as the turn's `done` said (the provider reported none)
        usage["estimated"] = True
    return usage


def _query_result(query: ExecutedQuery) -> dict[str, Any]:
    # The rows went to the client live and are not kept; what is kept is what ran and how many rows.
    return {"query": query.sql, "summary": _summary(query), "row_count": query.row_count or 0}


def _summary(query: ExecutedQuery) -> str:
    count = query.row_count or 0
    rows = "1 row" if count == 1 else f"{count} rows"
    verb = _WRITE_VERBS.get((query.command or "").upper())
    return f"{verb} {rows}" if verb else f"Returned {rows}"
