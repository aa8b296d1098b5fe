"""Fluxbase's `ChatbotSpec` (sdk/src/types.ts): the keys a sync payload's entries may carry beside
`name` and `code`, and the annotation values they give. The code's own annotations win; a spec key
fills in one the code does not have (app/chatbots/sync_service.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.chatbots.annotations import ANNOTATIONS, ConfigError, validate_config
from app.chatbots.values import InvalidValue

# Keys of the SDK's ChatbotSpec (Fluxbase sdk/src/types.ts) that map onto an annotation: key -> annotation name.
SPEC_ANNOTATIONS: Mapping[str, str] = {
    "description": "description", "is_public": "public",
    "allowed_tables": "allowed-tables", "allowed_operations": "allowed-operations",
    "allowed_schemas": "allowed-schemas", "max_tokens": "max-tokens", "temperature": "temperature",
    "persist_conversations": "persist-conversations", "conversation_ttl_hours": "conversation-ttl",
    "max_conversation_turns": "max-turns", "rate_limit_per_minute": "rate-limit",
    "daily_request_limit": "daily-limit", "daily_token_budget": "token-budget",
    "allow_unauthenticated": "allow-unauthenticated",
}
# Keys Fluxbase's clients send that mean nothing here, with the JSON type each must have. `is_bundled`
# is not in ChatbotSpec, but Fluxbase's CLI sends it with `original_code` when it bundled the code.
SPEC_IGNORED: Mapping[str, type] = {"enabled": bool, "original_code": str, "is_pre_bundled": bool, "is_bundled": bool}


def spec_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """The annotation values a payload item's spec keys give, keyed like `Annotation.key`.

    Each value is validated and normalised exactly like its annotation (`"20/min"`, `"yes"` and
    `"a, b"` included). A missing or null key gives nothing. Raises ConfigError naming the spec key.
    """
    values: dict[str, Any] = {}
    for key, annotation in SPEC_ANNOTATIONS.items():
        value = item.get(key)
        if value is None:
            continue
        row = ANNOTATIONS[annotation]
        if row.top_level:
            try:
                values[row.key] = row.parse(value)
            except InvalidValue as exc:
                raise ConfigError(key, str(exc)) from None
        else:
            try:
                values.update(validate_config({row.key: value}))
            except ConfigError as exc:
                raise ConfigError(key, exc.message) from None
    return values
