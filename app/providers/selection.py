"""Which provider answers: read from the database for every turn, so an edit or a change of
default in the admin API applies from the next turn on in every worker, with no restart.

Order: the conversation's pin when an admin set one (app/providers/pinning.py: no fallback when it
is gone); else the chatbot's @fluxbase:provider when it names an enabled provider (`config` names the one
from OPENAI_*); else the table's enabled default; else the provider from OPENAI_*; else
NO_PROVIDER. Built clients are kept per provider version (id, updated_at), so an unchanged
provider costs one indexed read per turn and no new connection.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from threading import Lock

import psycopg

from app.providers import admin
from app.providers import repository as repo
from app.providers.base import NoProviderConfigured, Provider, ProviderError
from app.providers.config_fields import ProviderConfigError
from app.providers.pinning import pinned_row
from app.providers.registry import ClientLimits, build_provider
from app.secrets.sealing import SecretBox
from config import Settings

NO_PROVIDER_HINT = ("No AI provider configured: set OPENAI_API_KEY, or add one with "
                    "`fluxbase providers add` (OpenAI-compatible, Azure OpenAI or Ollama)")
_CLIENTS_KEPT = 32


@dataclass(frozen=True)
class ProviderChoice:
    row: repo.ProviderRow
    config: dict[str, str] = field(repr=False)   # key included


def choose_for_turn(conn: psycopg.Connection, settings: Settings, box: SecretBox,
                    wanted: str | None, *, pinned: str | None = None) -> ProviderChoice:
    if pinned is not None:
        row = pinned_row(conn, settings, pinned)
        return ProviderChoice(row, _config(conn, box, settings, row))
    if wanted in (admin.ENV_PROVIDER_NAME, admin.ENV_PROVIDER_ID):
        row = None
    else:
        row = repo.for_turn(conn, wanted)
    if row is None:
        row = admin.environment_provider(settings, table_has_default=False)
    if row is None:
        raise NoProviderConfigured(NO_PROVIDER_HINT)
    return ProviderChoice(row, _config(conn, box, settings, row))


def _config(conn: psycopg.Connection, box: SecretBox, settings: Settings, row: repo.ProviderRow) -> dict[str, str]:
    try:
        return admin.full_config(conn, box, settings, row)
    except ProviderConfigError as exc:
        # The admin must act; the client is told the provider is not available, not an internal error.
        raise ProviderError(f"provider {row.name}: {exc.message}") from None


def choose_for_embeddings(conn: psycopg.Connection, settings: Settings, box: SecretBox) -> tuple[ProviderChoice, str]:
    row = repo.for_embeddings(conn) or admin.environment_provider(settings, table_has_default=False)
    if row is None:
        raise NoProviderConfigured(NO_PROVIDER_HINT)
    return ProviderChoice(row, _config(conn, box, settings, row)), admin.default_embedding_model(row)


class ProviderClients:
    """Built providers by version; a few dozen at most (one per provider and edit)."""

    def __init__(self, limits: ClientLimits):
        self._limits = limits
        self._built: OrderedDict[tuple, Provider] = OrderedDict()
        self._lock = Lock()

    def get(self, choice: ProviderChoice) -> Provider:
        key = (choice.row.id, choice.row.updated_at, tuple(sorted(choice.config.items())))
        with self._lock:
            provider = self._built.get(key)
            if provider is not None:
                self._built.move_to_end(key)
                return provider
        provider = build_provider(choice.row.provider_type, choice.config, self._limits, name=choice.row.name)
        with self._lock:
            self._built[key] = provider
            while len(self._built) > _CLIENTS_KEPT:
                self._built.popitem(last=False)
        return provider
