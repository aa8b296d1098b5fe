"""The JSON shapes of a chatbot on the REST API (PROTOCOL.md section 5; extras in docs/chatbots.md)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from app.chatbots.repository import ChatbotRow
from app.chatbots.spec import ServerPolicy, effective_config, tool_warnings
from app.tools.registry import ToolRegistry

__all__ = ["admin_object", "public_object", "timestamp"]


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form JavaScript's Date parses everywhere."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def public_object(row: ChatbotRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "namespace": row.namespace, "description": row.description,
            "enabled": row.enabled, "is_public": row.is_public, "updated_at": timestamp(row.updated_at)}


def admin_object(row: ChatbotRow, policy: ServerPolicy, registry: ToolRegistry) -> dict[str, Any]:
    """PROTOCOL.md section 5's admin object, plus three documented extras.

    `config` is the declared config (file + admin overrides, defaults filled): what a PUT
    round-trips. `effective_config` is that config narrowed by the server policy (what a turn
    uses) and `config_overrides` lists the keys an admin set (they survive file edits).
    `warnings` names each tool the chatbot asks for that the model is not offered; it is worked
    out now, against the tools this server runs, so it follows the server without a re-sync.
    """
    return {
        "id": row.id, "name": row.name, "namespace": row.namespace, "description": row.description,
        "title": row.title, "enabled": row.enabled, "is_public": row.is_public, "source": row.source,
        "version": row.version, "content_hash": row.content_hash, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at), "system_prompt": row.system_prompt, "tools": list(row.tools),
        "config": dict(row.config),
        "effective_config": effective_config(row.config, policy),
        "config_overrides": dict(row.config_overrides),
        "warnings": list(tool_warnings(row.config, row.file_tools, registry, row.tools)),
    }
