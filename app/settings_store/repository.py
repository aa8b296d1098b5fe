"""SQL for `app.settings`: statements, and functions that take a psycopg connection.

A row belongs to one user (`user_id`) or to the system (`user_id` NULL). A plain row holds a JSON
`value`; a secret row holds `encrypted_value`, sealed (app/secrets/sealing.py) under a key derived
from ENCRYPTION_KEY and the user id, or the system's own derived key, and bound to the setting's key
(the associated data), so a sealed value copied to another key or another user does not open.
`SettingRow` never carries the plaintext; `open_secret` is the one way to it, for the worker's
secret resolver. A setting's kind is fixed while it exists: turning a secret into a plain value
(or back) takes a delete first, so no write can silently unmask one.

Transactions belong to the caller (the web's pool does not autocommit; the CLI commits).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.secrets.sealing import SecretBox

__all__ = ["KindMismatch", "SettingExists", "SettingNotFound", "SettingRow", "Write", "delete", "get",
           "list_scope", "load_many", "open_secret", "put_secret", "put_value", "secret_box"]

_COLUMNS = ("id::text AS id, key, user_id::text AS user_id, value, is_secret, encrypted_value, description, "
            "created_at, updated_at")
SELECT_ONE = f"SELECT {_COLUMNS} FROM app.settings WHERE key = %(key)s AND user_id IS NOT DISTINCT FROM %(user_id)s"
SELECT_ONE_FOR_UPDATE = SELECT_ONE + " FOR UPDATE"
SELECT_SCOPE = f"""
SELECT {_COLUMNS} FROM app.settings
 WHERE user_id IS NOT DISTINCT FROM %(user_id)s AND (%(secret)s::boolean IS NULL OR is_secret = %(secret)s)
 ORDER BY key"""
# What a turn or a start_chat needs: these keys, for this user and for the system.
SELECT_MANY = f"""
SELECT {_COLUMNS} FROM app.settings
 WHERE key = ANY(%(keys)s) AND (user_id IS NULL OR user_id = %(user_id)s)"""
INSERT = f"""
INSERT INTO app.settings (key, user_id, value, is_secret, encrypted_value, description)
VALUES (%(key)s, %(user_id)s, %(value)s, %(is_secret)s, %(encrypted_value)s, %(description)s)
ON CONFLICT (key, user_id) DO NOTHING
RETURNING {_COLUMNS}"""
UPDATE = f"""
UPDATE app.settings
   SET value = %(value)s, encrypted_value = %(encrypted_value)s,
       description = CASE WHEN %(keep_description)s THEN description ELSE %(description)s END, updated_at = now()
 WHERE id = %(id)s
RETURNING {_COLUMNS}"""
DELETE = """
DELETE FROM app.settings
 WHERE key = %(key)s AND user_id IS NOT DISTINCT FROM %(user_id)s
   AND (%(secret)s::boolean IS NULL OR is_secret = %(secret)s)
RETURNING id"""


class SettingNotFound(LookupError):
    pass


class SettingExists(ValueError):
    pass


class KindMismatch(ValueError):
    """A write of a plain value over a secret, or of a secret over a plain value."""

    def __init__(self, key: str, is_secret: bool):
        self.key = key
        self.is_secret = is_secret
        kind = "a secret" if is_secret else "a plain (not secret) setting"
        super().__init__(f"{key} is {kind}; delete it first to store it as {'plain' if is_secret else 'a secret'}")


class Write(Enum):
    UPSERT = "upsert"     # create or replace
    CREATE = "create"     # SettingExists when it is there
    UPDATE = "update"     # SettingNotFound when it is not


@dataclass(frozen=True)
class SettingRow:
    id: str
    key: str
    user_id: str | None          # None: a system setting
    value: Any                   # the JSON value; None for a secret
    is_secret: bool
    description: str | None
    created_at: datetime | None
    updated_at: datetime | None
    sealed: str | None = field(default=None, repr=False)   # a secret's sealed text, never its plaintext

    @property
    def has_value(self) -> bool:
        return self.sealed is not None if self.is_secret else self.value is not None


def _row(data: dict) -> SettingRow:
    return SettingRow(id=data["id"], key=data["key"], user_id=data["user_id"], value=data["value"],
                      is_secret=data["is_secret"], description=data["description"], created_at=data["created_at"],
                      updated_at=data["updated_at"], sealed=data["encrypted_value"])


def _fetch(conn: psycopg.Connection, sql: str, params: dict) -> list[SettingRow]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_row(data) for data in cur.execute(sql, params).fetchall()]


def secret_box(encryption_key: str, user_id: str | None) -> SecretBox:
    """One user's key, or the system's: HKDF-SHA256 over ENCRYPTION_KEY with the user id in its info."""
    return SecretBox(encryption_key, f"app.settings:user:{user_id}" if user_id else "app.settings:system")


def _context(key: str) -> str:
    return f"app.settings:{key}"


def open_secret(encryption_key: str, row: SettingRow) -> str:
    """The plaintext of a secret row (SealError when it does not open: another ENCRYPTION_KEY, tampering)."""
    if not row.is_secret or row.sealed is None:
        raise ValueError(f"{row.key} is not a secret")
    return secret_box(encryption_key, row.user_id).open(row.sealed, _context(row.key))


def get(conn: psycopg.Connection, key: str, user_id: str | None) -> SettingRow | None:
    rows = _fetch(conn, SELECT_ONE, {"key": key, "user_id": user_id})
    return rows[0] if rows else None


def list_scope(conn: psycopg.Connection, user_id: str | None, *, secret: bool | None = None) -> list[SettingRow]:
    """One user's settings, or the system's (user_id None), by key; `secret` narrows to one kind."""
    return _fetch(conn, SELECT_SCOPE, {"user_id": user_id, "secret": secret})


def load_many(conn: psycopg.Connection, keys: Iterable[str], user_id: str | None) -> list[SettingRow]:
    """These keys' rows for the user (when there is one) and for the system."""
    keys = sorted(set(keys))
    if not keys:
        return []
    return _fetch(conn, SELECT_MANY, {"keys": keys, "user_id": user_id})


def put_value(conn: psycopg.Connection, key: str, user_id: str | None, value: Any, *,
              description: str | None = None, keep_description: bool = False,
              mode: Write = Write.UPSERT) -> SettingRow:
    return _put(conn, key, user_id, is_secret=False, value=Jsonb(value), sealed=None, description=description,
                keep_description=keep_description, mode=mode)


def put_secret(conn: psycopg.Connection, encryption_key: str, key: str, user_id: str | None, plaintext: str | None,
               *, description: str | None = None, keep_description: bool = False,
               mode: Write = Write.UPSERT) -> SettingRow:
    """`plaintext` None keeps the stored value (an update of the description only)."""
    sealed = None if plaintext is None else secret_box(encryption_key, user_id).seal(plaintext, _context(key))
    return _put(conn, key, user_id, is_secret=True, value=None, sealed=sealed, description=description,
                keep_description=keep_description, mode=mode)


def _put(conn: psycopg.Connection, key: str, user_id: str | None, *, is_secret: bool, value: Jsonb | None,
         sealed: str | None, description: str | None, keep_description: bool, mode: Write) -> SettingRow:
    params = {"key": key, "user_id": user_id}
    # Row-locked, so a concurrent write of the same setting waits instead of racing the kind check.
    existing = None if mode is Write.CREATE else _first(_fetch(conn, SELECT_ONE_FOR_UPDATE, params))
    if existing is None:
        if mode is Write.UPDATE:
            raise SettingNotFound(key)
        if sealed is None and is_secret:
            raise ValueError("a new secret needs a value")
        created = _fetch(conn, INSERT, {**params, "value": value, "is_secret": is_secret, "encrypted_value": sealed,
                                        "description": description})
        if created:
            return created[0]
        if mode is Write.CREATE:
            raise SettingExists(key)
        # Inserted by a concurrent writer between our look and our insert: update that one.
        existing = _first(_fetch(conn, SELECT_ONE_FOR_UPDATE, params))
        if existing is None:
            raise SettingNotFound(key)
    if existing.is_secret != is_secret:
        raise KindMismatch(key, existing.is_secret)
    if is_secret and sealed is None:
        sealed = existing.sealed
    return _fetch(conn, UPDATE, {"id": existing.id, "value": value, "encrypted_value": sealed,
                                 "description": description, "keep_description": keep_description})[0]


def _first(rows: list[SettingRow]) -> SettingRow | None:
    return rows[0] if rows else None


def delete(conn: psycopg.Connection, key: str, user_id: str | None, *, secret: bool | None = None) -> bool:
    """Whether a row went; `secret` deletes only a row of that kind."""
    with conn.cursor() as cur:
        return cur.execute(DELETE, {"key": key, "user_id": user_id, "secret": secret}).fetchone() is not None
