"""The server-wide policy (SERVER_* settings) and what it does to a chatbot's config.

A chatbot's stored `config` is what its file (plus admin edits) declared. What actually
applies is that config narrowed by the server: operations intersected with
SERVER_ALLOWED_OPERATIONS, limits clamped to the SERVER_MAX_* caps, anonymous use only
when SERVER_ALLOW_UNAUTHENTICATED is on. Narrowing happens when the config is read, not
when it is stored, so raising a server cap later takes effect without a re-sync.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.chatbots.spec import ServerPolicy
from config import Settings

__all__ = ["allows_anonymous", "server_policy"]


def server_policy(settings: Settings) -> ServerPolicy:
    return ServerPolicy(
        allowed_operations=settings.server_allowed_operations,
        max_tokens=settings.server_max_tokens,
        max_rate_limit_per_minute=settings.server_max_rate_limit,
        max_daily_request_limit=settings.server_max_daily_limit,
        max_daily_token_budget=settings.server_max_token_budget,
        allow_unauthenticated=settings.server_allow_unauthenticated,
    )


def allows_anonymous(config: Mapping[str, Any], policy: ServerPolicy) -> bool:
    return bool(config.get("allow_unauthenticated")) and policy.allow_unauthenticated
