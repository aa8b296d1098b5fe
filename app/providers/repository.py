"""SQL for `ai.providers`: statements and functions that take a psycopg connection (dict rows).

Rows come back as `ProviderRow` without the key; `api_key_of` opens the sealed key when a client
is built. Every change to `is_default` or `use_for_embeddings` runs under one transaction-level
advisory lock, so concurrent changes queue; the partial unique indexes of migration 0007 hold the
"one at a time" rule even against a writer that skips the lock. Transactions belong to the caller.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.secrets.sealing import SecretBox

_COLUMNS = ("id::text AS id, name, display_name, provider_type, is_default, enabled, config, "
            "api_key_sealed IS NOT NULL AS has_api_key, use_for_embeddings, embedding_model, created_at, updated_at")
# Any constant works; it only has to be the same for every writer of these flags.
_FLAGS_LOCK_KEY = 7_242_001

SELECT_ALL = f"SELECT {_COLUMNS} FROM ai.providers ORDER BY is_default DESC, name"
SELECT_BY_ID = f"SELECT {_COLUMNS} FROM ai.providers WHERE id = %(id)s"
SELECT_BY_NAME = f"SELECT {_COLUMNS} FROM ai.providers WHERE name = %(name)s"
SELECT_SEALED_KEY = "SELECT api_key_sealed FROM ai.providers WHERE id = %(id)s"
# The provider a turn uses: the one named if it is enabled, else the enabled default.
SELECT_FOR_TURN = f"""
SELECT {_COLUMNS}, api_key_sealed FROM ai.providers
 WHERE enabled AND (name = %(name)s OR is_default)
 ORDER BY (name = %(name)s) IS TRUE DESC LIMIT 1"""
# Embeddings: the provider marked for them, else the default (Fluxbase's "auto").
SELECT_FOR_EMBEDDINGS = f"""
SELECT {_COLUMNS}, api_key_sealed FROM ai.providers
 WHERE enabled AND (use_for_embeddings OR is_default)
 ORDER BY use_for_embeddings DESC LIMIT 1"""
INSERT = f"""
INSERT INTO ai.providers (id, name, display_name, provider_type, is_default, enabled, config, api_key_sealed,
                          use_for_embeddings, embedding_model)
VALUES (%(id)s, %(name)s, %(display_name)s, %(provider_type)s, %(is_default)s, %(enabled)s, %(config)s,
        %(api_key_sealed)s, false, %(embedding_model)s)
RETURNING {_COLUMNS}"""
UPDATE = f"""
UPDATE ai.providers
   SET display_name = %(display_name)s, enabled = %(enabled)s, config = %(config)s,
       api_key_sealed = %(api_key_sealed)s, embedding_model = %(embedding_model)s, updated_at = now()
 WHERE id = %(id)s
RETURNING {_COLUMNS}"""
ANY_DEFAULT = "SELECT EXISTS (SELECT 1 FROM ai.providers WHERE is_default)"
CLEAR_DEFAULT = "UPDATE ai.providers SET is_default = false, updated_at = now() WHERE is_default AND id <> %(id)s"
SET_DEFAULT = f"UPDATE ai.providers SET is_default = true, updated_at = now() WHERE id = %(id)s RETURNING {_COLUMNS}"
CLEAR_EMBEDDINGS = ("UPDATE ai.providers SET use_for_embeddings = false, updated_at = now() "
                    "WHERE use_for_embeddings AND id <> %(id)s")
SET_EMBEDDINGS = (f"UPDATE ai.providers SET use_for_embeddings = %(on)s, updated_at = now() "
                  f"WHERE id = %(id)s RETURNING {_COLUMNS}")
DELETE = "DELETE FROM ai.providers WHERE id = %(id)s RETURNING is_default"
# After the default is deleted the oldest enabled provider takes over, so there is a default
# whenever there is an enabled provider (a disabled one never becomes it).
PROMOTE = f"""
UPDATE ai.providers SET is_default = true, updated_at = now()
 WHERE id = (SELECT id FROM ai.providers WHERE enabled ORDER BY created_at, name LIMIT 1)
RETURNING {_COLUMNS}"""


@dataclass(frozen=True)
class ProviderRow:
    id: str
    name: str
    display_name: str
    provider_type: str
    is_default: bool
    enabled: bool
    config: Mapping[str, str] = field(hash=False)   # without the key
    has_api_key: bool
    use_for_embeddings: bool
    embedding_model: str | None
    created_at: datetime
    updated_at: datetime
    api_key_sealed: str | None = field(default=None, repr=False, compare=False)

    @property
    def version(self) -> tuple[str, datetime]:
        """Changes with every edit: a worker rebuilds its client when this differs."""
        return (self.id, self.updated_at)


def _row(record: Mapping[str, Any] | None) -> ProviderRow | None:
    return ProviderRow(**record) if record is not None else None


def _run(conn: psycopg.Connection, statement: str, params: Mapping[str, Any] | None = None):
    # Dict rows whatever the connection's own row factory (the CLI's connections have none).
    return conn.cursor(row_factory=dict_row).execute(statement, params)


def key_box(encryption_key: str) -> SecretBox:
    return SecretBox(encryption_key, "ai.providers.api_key")


def seal_key(box: SecretBox, provider_id: str, api_key: str | None) -> str | None:
    return box.seal(api_key, provider_id) if api_key else None


def api_key_of(conn: psycopg.Connection, box: SecretBox, row: ProviderRow) -> str | None:
    sealed = row.api_key_sealed
    if sealed is None and row.has_api_key:
        sealed = stored_seal(conn, row.id)
    return box.open(sealed, row.id) if sealed else None


def stored_seal(conn: psycopg.Connection, provider_id: str) -> str | None:
    record = _run(conn, SELECT_SEALED_KEY, {"id": provider_id}).fetchone()
    return record["api_key_sealed"] if record else None


def list_all(conn: psycopg.Connection) -> list[ProviderRow]:
    return [_row(r) for r in _run(conn, SELECT_ALL).fetchall()]


def get(conn: psycopg.Connection, provider_id: str, *, for_update: bool = False) -> ProviderRow | None:
    return _row(_run(conn, SELECT_BY_ID + (" FOR UPDATE" if for_update else ""), {"id": provider_id}).fetchone())


def get_by_name(conn: psycopg.Connection, name: str, *, for_update: bool = False) -> ProviderRow | None:
    return _row(_run(conn, SELECT_BY_NAME + (" FOR UPDATE" if for_update else ""), {"name": name}).fetchone())


def for_turn(conn: psycopg.Connection, name: str | None) -> ProviderRow | None:
    return _row(_run(conn, SELECT_FOR_TURN, {"name": name}).fetchone())


def for_embeddings(conn: psycopg.Connection) -> ProviderRow | None:
    return _row(_run(conn, SELECT_FOR_EMBEDDINGS).fetchone())


def lock_flags(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_FLAGS_LOCK_KEY,))


def insert(conn: psycopg.Connection, *, provider_id: str, name: str, display_name: str, provider_type: str,
           config: Mapping[str, str], api_key_sealed: str | None, enabled: bool, make_default: bool,
           embedding_model: str | None) -> ProviderRow:
    """Inserts, becoming the default when asked to or when there is none yet (in the caller's transaction)."""
    lock_flags(conn)
    first = not _run(conn, ANY_DEFAULT).fetchone()["exists"]
    if make_default and not first:
        _run(conn, CLEAR_DEFAULT, {"id": provider_id})
    return _row(_run(conn, INSERT, {
        "id": provider_id, "name": name, "display_name": display_name, "provider_type": provider_type,
        "is_default": make_default or (first and enabled), "enabled": enabled, "config": Jsonb(dict(config)),
        "api_key_sealed": api_key_sealed, "embedding_model": embedding_model}).fetchone())


def update(conn: psycopg.Connection, row: ProviderRow, *, display_name: str, enabled: bool,
           config: Mapping[str, str], api_key_sealed: str | None, embedding_model: str | None) -> ProviderRow:
    return _row(_run(conn, UPDATE, {
        "id": row.id, "display_name": display_name, "enabled": enabled, "config": Jsonb(dict(config)),
        "api_key_sealed": api_key_sealed, "embedding_model": embedding_model}).fetchone())


class DisabledProvider(Exception):
    """The provider to make the default is disabled (possibly just now, by a concurrent edit)."""


def set_default(conn: psycopg.Connection, provider_id: str) -> ProviderRow | None:
    # One transaction (a savepoint inside the caller's), also on an autocommit connection: the
    # lock must cover every statement. The target row is locked before the old default is
    # cleared, so a concurrent disable either lands first (and is seen here) or waits.
    with conn.transaction():
        lock_flags(conn)
        target = _row(_run(conn, SELECT_BY_ID + " FOR UPDATE", {"id": provider_id}).fetchone())
        if target is None:
            return None
        if not target.enabled:
            raise DisabledProvider()
        _run(conn, CLEAR_DEFAULT, {"id": provider_id})
        return _row(_run(conn, SET_DEFAULT, {"id": provider_id}).fetchone())


def set_for_embeddings(conn: psycopg.Connection, provider_id: str, on: bool) -> ProviderRow | None:
    with conn.transaction():
        lock_flags(conn)
        if on:
            _run(conn, CLEAR_EMBEDDINGS, {"id": provider_id})
        return _row(_run(conn, SET_EMBEDDINGS, {"id": provider_id, "on": on}).fetchone())


def default_if_none(conn: psycopg.Connection, provider_id: str) -> ProviderRow | None:
    """An enabled provider becomes the default when there is none (the first one was added disabled)."""
    with conn.transaction():
        lock_flags(conn)
        if _run(conn, ANY_DEFAULT).fetchone()["exists"]:
            return None
        return _row(_run(conn, SET_DEFAULT, {"id": provider_id}).fetchone())


def delete(conn: psycopg.Connection, provider_id: str) -> bool:
    with conn.transaction():
        lock_flags(conn)
        record = _run(conn, DELETE, {"id": provider_id}).fetchone()
        if record is None:
            return False
        if record["is_default"]:
            _run(conn, PROMOTE)
        return True
