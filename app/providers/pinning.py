"""Conversations pinned to a provider by an admin (docs/providers.md section 3).

A pin overrides the chatbot's @fluxbase:provider and the default for every turn of one conversation;
`fluxbase eval --provider NAME` uses it to run a chatbot's cases on another model. It is kept by
name (names never change; `config` is the provider from OPENAI_*). A pin that no longer resolves
ends the turn with PROVIDER_NOT_FOUND: falling back to another provider would answer on a model the
admin did not choose, which is exactly what a pin is there to prevent.
"""
from __future__ import annotations

import psycopg

from app.protocol import Code, ProtocolError
from app.providers import admin
from app.providers import repository as repo
from config import Settings

__all__ = ["PinnedProviderUnavailable", "ProviderDisabled", "pin_target", "pinned_row"]


class ProviderDisabled(Exception):
    """An admin asked to pin a provider that is disabled."""

    def __init__(self, name: str):
        super().__init__(f"provider {name!r} is disabled: enable it first (PUT /api/v1/admin/ai/providers/<id>)")
        self.name = name


class PinnedProviderUnavailable(ProtocolError):
    """The conversation's pinned provider was deleted or disabled since it was pinned."""

    def __init__(self, name: str, why: str):
        super().__init__(Code.PROVIDER_NOT_FOUND,
                         f"This conversation is pinned to provider {name!r}, which {why}; an admin can pin "
                         f"another provider or remove the pin")
        self.name = name


def pin_target(conn: psycopg.Connection, settings: Settings, ref: str) -> str:
    """The name to store for a pin given by provider name or id. Raises admin.ProviderNotFound for an
    unknown one (or `config` without OPENAI_API_KEY) and ProviderDisabled for a disabled one."""
    row = admin.get_provider(conn, settings, ref)
    if not row.enabled:
        raise ProviderDisabled(row.name)
    return row.name


def pinned_row(conn: psycopg.Connection, settings: Settings, name: str) -> repo.ProviderRow:
    """The provider a pinned conversation's turn uses; PinnedProviderUnavailable when it is gone."""
    if name == admin.ENV_PROVIDER_NAME:
        row = admin.environment_provider(settings, table_has_default=False)
        if row is None:
            raise PinnedProviderUnavailable(name, "is not configured any more (OPENAI_API_KEY is not set)")
        return row
    row = repo.get_by_name(conn, name)
    if row is None:
        raise PinnedProviderUnavailable(name, "no longer exists")
    if not row.enabled:
        raise PinnedProviderUnavailable(name, "is disabled")
    return row
