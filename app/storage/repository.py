"""SQL for `ai.storage_buckets` and `ai.storage_objects`: functions taking a psycopg connection.

Transactions belong to the caller. These are server tables, read with the owner connection; the
end-user roles have no privilege on them, and which rows a user may see is decided by the caller
(app.storage.store) and passed in as `user_id` / `everyone`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row, tuple_row

__all__ = ["Bucket", "StoredObject", "create_bucket", "delete_row", "get_bucket", "get_object", "list_buckets",
           "list_objects", "lock_key", "lock_user", "user_bytes", "write_row"]


@dataclass(frozen=True)
class Bucket:
    name: str
    policy: str
    created_at: datetime


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    owner_id: str
    size: int
    content_type: str
    sha256: str
    created_at: datetime
    updated_at: datetime


_OBJECT_COLUMNS = "bucket, key, owner_id::text AS owner_id, size, content_type, sha256, created_at, updated_at"


def create_bucket(conn: psycopg.Connection, name: str, policy: str) -> Bucket | None:
    """The new bucket, or None when one of that name exists (it is left as it is)."""
    with conn.cursor(row_factory=class_row(Bucket)) as cur:
        return cur.execute("INSERT INTO ai.storage_buckets (name, policy) VALUES (%s, %s) "
                           "ON CONFLICT (name) DO NOTHING RETURNING name, policy, created_at",
                           (name, policy)).fetchone()


def get_bucket(conn: psycopg.Connection, name: str) -> Bucket | None:
    with conn.cursor(row_factory=class_row(Bucket)) as cur:
        return cur.execute("SELECT name, policy, created_at FROM ai.storage_buckets WHERE name = %s",
                           (name,)).fetchone()


def list_buckets(conn: psycopg.Connection) -> list[tuple[Bucket, int, int]]:
    """Every bucket with its object count and bytes."""
    with conn.cursor(row_factory=tuple_row) as cur:
        rows = cur.execute(
            "SELECT b.name, b.policy, b.created_at, count(o.key)::int, coalesce(sum(o.size), 0)::bigint "
            "FROM ai.storage_buckets b LEFT JOIN ai.storage_objects o ON o.bucket = b.name "
            "GROUP BY b.name ORDER BY b.name").fetchall()
    return [(Bucket(name, policy, created), count, size) for name, policy, created, count, size in rows]


def lock_user(conn: psycopg.Connection, user_id: str) -> None:
    """Serialise one user's uploads until the transaction ends, so two cannot both pass the quota."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('storage-user:' || %s, 0))", (user_id,))


def lock_key(conn: psycopg.Connection, bucket: str, key: str) -> None:
    """Serialise writes and deletes of one key until the transaction ends (the row may not exist yet)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('storage-key:' || %s || '/' || %s, 0))",
                 (bucket, key))


def get_object(conn: psycopg.Connection, bucket: str, key: str) -> StoredObject | None:
    with conn.cursor(row_factory=class_row(StoredObject)) as cur:
        return cur.execute(f"SELECT {_OBJECT_COLUMNS} FROM ai.storage_objects WHERE bucket = %s AND key = %s",
                           (bucket, key)).fetchone()


def user_bytes(conn: psycopg.Connection, user_id: str, *, besides: tuple[str, str]) -> int:
    """Bytes the user holds, leaving out the object `besides` (bucket, key) that an upload replaces."""
    with conn.cursor(row_factory=tuple_row) as cur:   # the owner pool's default rows are dicts
        return cur.execute("SELECT coalesce(sum(size), 0)::bigint FROM ai.storage_objects "
                           "WHERE owner_id = %s AND (bucket, key) <> (%s, %s)",
                           (user_id, *besides)).fetchone()[0]


def write_row(conn: psycopg.Connection, *, bucket: str, key: str, owner_id: str, size: int, content_type: str,
              sha256: str) -> StoredObject:
    with conn.cursor(row_factory=class_row(StoredObject)) as cur:
        return cur.execute(
            "INSERT INTO ai.storage_objects (bucket, key, owner_id, size, content_type, sha256) "
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (bucket, key) DO UPDATE SET size = excluded.size, content_type = excluded.content_type, "
            f"sha256 = excluded.sha256, updated_at = now() RETURNING {_OBJECT_COLUMNS}",
            (bucket, key, owner_id, size, content_type, sha256)).fetchone()


def delete_row(conn: psycopg.Connection, bucket: str, key: str) -> None:
    conn.execute("DELETE FROM ai.storage_objects WHERE bucket = %s AND key = %s", (bucket, key))


def list_objects(conn: psycopg.Connection, bucket: str, *, user_id: str | None, everyone: bool, prefix: str,
                 start_after: str, limit: int) -> list[StoredObject]:
    """Up to `limit` objects after `start_after` whose key starts with `prefix`, in byte order of the
    key; all of them when `everyone`, else only `user_id`'s."""
    with conn.cursor(row_factory=class_row(StoredObject)) as cur:
        return cur.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM ai.storage_objects "
            "WHERE bucket = %(bucket)s AND key > %(after)s AND key >= %(prefix)s "
            "AND starts_with(key, %(prefix)s) AND (%(everyone)s OR owner_id = %(user)s::uuid) "
            "ORDER BY key LIMIT %(limit)s",
            {"bucket": bucket, "after": start_after, "prefix": prefix, "everyone": everyone, "user": user_id,
             "limit": limit}).fetchall()
