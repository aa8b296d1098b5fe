"""Managing providers: what the admin API and `fluxbase providers` both do, with the same checks.

The provider from OPENAI_* is shown beside the table's (id `FROM_CONFIG`, name `config`, as
Fluxbase shows its configuration-file provider) and cannot be changed here. Every function takes
an open connection; the caller commits. Errors are typed; the web layer maps them to HTTP.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from app.chatbots.spec import is_valid_name
from app.providers import repository as repo
from app.providers.config_fields import (
    ConfigField,
    ProviderConfigError,
    check_known,
    validate_fields,
)
from app.providers.registry import provider_class, validate_config
from app.secrets.sealing import SealError, SecretBox
from config import Settings

ENV_PROVIDER_ID = "FROM_CONFIG"
ENV_PROVIDER_NAME = "config"
# What a client may send back in place of the key it was shown: "keep the stored one".
MASKS = frozenset({"***", "***masked***"})
MASK = "***"
_MAX_DISPLAY_NAME = 200


class ProviderNotFound(LookupError):
    def __init__(self) -> None:
        super().__init__("Provider not found")


class ProviderNameTaken(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a provider named {name!r} exists already")


class ReadOnlyProvider(PermissionError):
    def __init__(self) -> None:
        super().__init__("the provider from the environment (OPENAI_*) is read-only: change it through "
                         "the environment, or add a provider and make it the default")


@dataclass(frozen=True)
class NewProvider:
    name: Any
    provider_type: Any
    config: Any = None
    display_name: Any = None
    is_default: bool = False
    enabled: bool = True
    embedding_model: Any = None


_UNCHANGED: Any = object()


@dataclass(frozen=True)
class ProviderChanges:
    """Only what is given changes; `config` is merged key by key (null or "" removes a key)."""

    display_name: Any = _UNCHANGED
    enabled: Any = _UNCHANGED
    config: Any = _UNCHANGED
    embedding_model: Any = _UNCHANGED


def environment_provider(settings: Settings, *, table_has_default: bool) -> repo.ProviderRow | None:
    if not settings.openai_api_key:
        return None
    config = {"base_url": settings.openai_base_url.rstrip("/"), "model": settings.openai_model}
    return repo.ProviderRow(
        id=ENV_PROVIDER_ID, name=ENV_PROVIDER_NAME, display_name="Environment (OPENAI_*)", provider_type="openai",
        is_default=not table_has_default, enabled=True, config=config, has_api_key=True,
        use_for_embeddings=False, embedding_model=None, created_at=None, updated_at=None)


def environment_config(settings: Settings) -> dict[str, str]:
    return {"api_key": settings.openai_api_key, "base_url": settings.openai_base_url.rstrip("/"),
            "model": settings.openai_model}


def list_providers(conn: psycopg.Connection, settings: Settings) -> list[repo.ProviderRow]:
    rows = repo.list_all(conn)
    env = environment_provider(settings, table_has_default=any(r.is_default and r.enabled for r in rows))
    return ([env] if env else []) + rows


def get_provider(conn: psycopg.Connection, settings: Settings, ref: str) -> repo.ProviderRow:
    """By id, or by name (the CLI's way)."""
    if ref in (ENV_PROVIDER_ID, ENV_PROVIDER_NAME):
        env = environment_provider(settings, table_has_default=_enabled_default(conn))
        if env is None:
            raise ProviderNotFound()
        return env
    return _lookup(conn, ref)


def create(conn: psycopg.Connection, box: SecretBox, new: NewProvider) -> repo.ProviderRow:
    name = _name(new.name)
    provider_type = new.provider_type
    if not isinstance(provider_type, str):
        raise ProviderConfigError("provider_type", "is required (openai, azure or ollama)")
    if isinstance(new.config, Mapping) and _is_mask(new.config.get("api_key")):
        raise ProviderConfigError("config.api_key", "is the mask shown in place of a key: send the key itself")
    config = validate_config(provider_type, new.config)
    if new.is_default and not new.enabled:
        raise ProviderConfigError("enabled", "a disabled provider cannot be the default")
    display_name = _display_name(new.display_name, default=name)
    embedding_model = _embedding_model(new.embedding_model)
    if repo.get_by_name(conn, name) is not None:
        raise ProviderNameTaken(name)
    provider_id = str(uuid.uuid4())
    api_key = config.pop("api_key", None)
    try:
        with conn.transaction():
            return repo.insert(conn, provider_id=provider_id, name=name, display_name=display_name,
                               provider_type=provider_type, config=config,
                               api_key_sealed=repo.seal_key(box, provider_id, api_key), enabled=bool(new.enabled),
                               make_default=bool(new.is_default), embedding_model=embedding_model)
    except psycopg.errors.UniqueViolation:
        raise ProviderNameTaken(name) from None  # a concurrent create with the same name won


def change(conn: psycopg.Connection, box: SecretBox, ref: str, changes: ProviderChanges) -> repo.ProviderRow:
    # The flags lock, then the row, as every writer takes them (no deadlock with a change of default);
    # held until commit, so two edits at once apply one after the other and none is lost.
    with conn.transaction():
        repo.lock_flags(conn)
        return _change(conn, box, _writable(conn, ref, lock=True), changes)


def _change(conn: psycopg.Connection, box: SecretBox, row: repo.ProviderRow,
            changes: ProviderChanges) -> repo.ProviderRow:
    display_name = row.display_name if changes.display_name is _UNCHANGED else _display_name(
        changes.display_name, default=row.name)
    enabled = row.enabled if changes.enabled is _UNCHANGED else changes.enabled
    if not isinstance(enabled, bool):
        raise ProviderConfigError("enabled", "must be true or false")
    embedding_model = (row.embedding_model if changes.embedding_model is _UNCHANGED
                       else _embedding_model(changes.embedding_model))
    if changes.config is _UNCHANGED:
        # The key is neither opened nor resealed: a rename works even when the key no longer opens.
        return _adopt_default(conn, repo.update(
            conn, row, display_name=display_name, enabled=enabled, config=row.config,
            api_key_sealed=repo.stored_seal(conn, row.id), embedding_model=embedding_model) or _gone())
    if not isinstance(changes.config, Mapping):
        raise ProviderConfigError("config", "must be an object")
    new_key = changes.config.get("api_key")
    # A new key replaces one that no longer opens; otherwise the stored one must open to be kept.
    check_known(provider_class(row.provider_type).config_fields, changes.config)
    api_key = new_key if isinstance(new_key, str) and new_key.strip() and not _is_mask(new_key) \
        else _stored_key(conn, box, row)
    merged = {**row.config, **({"api_key": api_key} if api_key else {})}
    for key, value in changes.config.items():
        if key == "api_key" and _is_mask(value):
            continue
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    config = validate_config(row.provider_type, merged)
    api_key = config.pop("api_key", None)
    return _adopt_default(conn, repo.update(
        conn, row, display_name=display_name, enabled=enabled, config=config,
        api_key_sealed=repo.seal_key(box, row.id, api_key), embedding_model=embedding_model) or _gone())


def _adopt_default(conn: psycopg.Connection, row: repo.ProviderRow) -> repo.ProviderRow:
    return (repo.default_if_none(conn, row.id) or row) if row.enabled and not row.is_default else row


def make_default(conn: psycopg.Connection, ref: str) -> repo.ProviderRow:
    row = _writable(conn, ref)
    try:
        return repo.set_default(conn, row.id) or _gone()
    except repo.DisabledProvider:
        raise ProviderConfigError("enabled", "a disabled provider cannot be the default; enable it first") from None


def use_for_embeddings(conn: psycopg.Connection, ref: str, on: bool) -> repo.ProviderRow:
    row = _writable(conn, ref)
    return repo.set_for_embeddings(conn, row.id, on) or _gone()


def remove(conn: psycopg.Connection, ref: str) -> str:
    row = _writable(conn, ref)
    if not repo.delete(conn, row.id):
        _gone()
    return row.id


def full_config(conn: psycopg.Connection, box: SecretBox, settings: Settings, row: repo.ProviderRow) -> dict[str, str]:
    """What a client is built from, key included: never shown, never logged."""
    if row.id == ENV_PROVIDER_ID:
        return environment_config(settings)
    api_key = _stored_key(conn, box, row)
    return {**row.config, **({"api_key": api_key} if api_key else {})}


def _stored_key(conn: psycopg.Connection, box: SecretBox, row: repo.ProviderRow) -> str | None:
    try:
        return repo.api_key_of(conn, box, row)
    except SealError:
        raise ProviderConfigError("config.api_key", "the stored key cannot be read (ENCRYPTION_KEY changed since it "
                                  "was stored, or the row was altered): send the key again") from None


def masked_config(row: repo.ProviderRow) -> dict[str, str]:
    return {**row.config, **({"api_key": MASK} if row.has_api_key else {})}


def default_embedding_model(row: repo.ProviderRow) -> str:
    if row.embedding_model:
        return row.embedding_model
    # Ollama has no fixed default; the first-run and docs point at nomic-embed-text.
    return {"ollama": "nomic-embed-text"}.get(row.provider_type, "text-embedding-3-small")


# -- helpers -------------------------------------------------------------------------------------

def _writable(conn: psycopg.Connection, ref: str, *, lock: bool = False) -> repo.ProviderRow:
    if ref in (ENV_PROVIDER_ID, ENV_PROVIDER_NAME):
        raise ReadOnlyProvider()
    return _lookup(conn, ref, lock=lock)


def _lookup(conn: psycopg.Connection, ref: str, *, lock: bool = False) -> repo.ProviderRow:
    """An id in any form `uuid.UUID` reads (urn:uuid:, braces, no dashes), else a name; names never look
    like ids (`_name`), so one reference cannot mean two providers."""
    provider_id = _as_uuid(ref)
    if provider_id is not None:
        row = repo.get(conn, provider_id, for_update=lock)
    else:
        row = repo.get_by_name(conn, ref, for_update=lock) if is_valid_name(ref) else None
    if row is None:
        raise ProviderNotFound()
    return row


def _gone():
    raise ProviderNotFound()  # deleted between the read and the write


def _enabled_default(conn: psycopg.Connection) -> bool:
    return any(r.is_default and r.enabled for r in repo.list_all(conn))


def _is_mask(value: Any) -> bool:
    return isinstance(value, str) and value.strip() in MASKS


def _as_uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def _name(value: Any) -> str:
    if value is None or value == "":
        raise ProviderConfigError("name", "is required")
    if not is_valid_name(value):
        raise ProviderConfigError("name", "must be lower-case letters, digits, '-' and '_' (at most 63)")
    if _as_uuid(value) is not None:
        raise ProviderConfigError("name", "must not look like a provider id (a UUID)")
    if value == ENV_PROVIDER_NAME:
        raise ProviderConfigError("name", f"{ENV_PROVIDER_NAME!r} is the provider from the environment")
    return value


def _display_name(value: Any, *, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > _MAX_DISPLAY_NAME or any(ord(c) < 0x20 for c in value) \
            or not value.isprintable():
        raise ProviderConfigError("display_name", f"must be printable text of at most {_MAX_DISPLAY_NAME} characters")
    return value


def _embedding_model(value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        return validate_fields((ConfigField("embedding_model", "model"),), {"embedding_model": value})["embedding_model"]
    except ProviderConfigError as exc:
        raise ProviderConfigError("embedding_model", exc.message) from None

