"""The JSON shapes of a chatbot on the REST API (PROTOCOL.md section 5; extras in docs/chatbots.md)."""
from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from app.chatbots.repository import ChatbotRow
from app.chatbots.spec import ServerPolicy, effective_config, tool_warnings
from app.tools.registry import ToolRegistry

__all__ = ["SDK_CONFIG_FIELDS", "admin_object", "public_object", "timestamp"]


def timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, the form JavaScript's Date parses everywhere."""
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# Fluxbase's AIChatbot (sdk/src/types.ts) carries these config values as top-level fields:
# SDK field -> config key. Only max_conversation_turns is named differently (`@fluxbase:max-turns`).
SDK_CONFIG_FIELDS = (
    ("allowed_tables", "allowed_tables"), ("allowed_operations", "allowed_operations"),
    ("allowed_schemas", "allowed_schemas"), ("max_tokens", "max_tokens"), ("temperature", "temperature"),
    ("persist_conversations", "persist_conversations"), ("conversation_ttl_hours", "conversation_ttl_hours"),
    ("max_conversation_turns", "max_turns"), ("rate_limit_per_minute", "rate_limit_per_minute"),
    ("daily_request_limit", "daily_request_limit"), ("daily_token_budget", "daily_token_budget"),
    ("allow_unauthenticated", "allow_unauthenticated"),
)


def public_object(row: ChatbotRow) -> dict[str, Any]:
    """What anyone may see of a chatbot: Fluxbase's AIChatbotSummary without its allowed_* lists.

    Fluxbase's own server leaves those lists out of its public summary too; they would tell an
    anonymous caller which tables exist. Never the prompt or the code.
    """
    return {"id": row.id, "name": row.name, "namespace": row.namespace, "description": row.description,
            "enabled": row.enabled, "is_public": row.is_public, "source": row.source, "version": row.version,
            "created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at)}


def admin_object(row: ChatbotRow, policy: ServerPolicy, registry: ToolRegistry) -> dict[str, Any]:
    """PROTOCOL.md section 5's admin object, plus documented extras.

    `config` is the declared config (file + admin overrides, defaults filled): what a PUT
    round-trips. `effective_config` is that config narrowed by the server policy (what a turn
    uses) and `config_overrides` lists the keys an admin set (they survive file edits).
    `warnings` names each tool the chatbot asks for that the model is not offered; it is worked
    out now, against the tools this server runs, so it follows the server without a re-sync.
    `code` and the SDK_CONFIG_FIELDS copies of `config` are there for Fluxbase's SDK, which
    reads them at the top level. `code` is the text the definition was last synced from, as
    stored by that sync (so never a file edited since); None only for a row synced before
    migration 0009 and not synced again.
    """
    config = dict(row.config)
    return {
        "id": row.id, "name": row.name, "namespace": row.namespace, "description": row.description,
        "title": row.title, "enabled": row.enabled, "is_public": row.is_public, "source": row.source,
        "version": row.version, "content_hash": row.content_hash, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at), "system_prompt": row.system_prompt, "tools": list(row.tools),
        "config": config,
        "effective_config": effective_config(row.config, policy),
        "config_overrides": dict(row.config_overrides),
        "warnings": list(tool_warnings(row.config, row.file_tools, registry, row.tools)),
        "code": row.code,
        **{field: copy.deepcopy(config[key]) for field, key in SDK_CONFIG_FIELDS},
    }
