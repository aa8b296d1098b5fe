"""The storage layer: the backend's bytes and the metadata's owners, joined under one set of rules.

Every decision is made here from the end user's id:
- a private bucket: each object is its owner's alone (others neither list nor read it);
- a public-read bucket: every caller, anonymous ones included, lists and reads every object;
- in both, only a signed-in user writes, and only the owner replaces or deletes an object.
Keys are unique per bucket: a key another user holds cannot be written (the refusal says only that).

A write holds a lock on the key (and one on the user, for the quota) from the ownership check to
the commit, with the bytes written in between, so two writers of one key cannot interleave. The
metadata keeps each object's SHA-256, and a read whose bytes do not match it is refused rather than
returned half-updated.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.storage import repository as repo
from app.storage.backend import StorageBackend
from app.storage.errors import (
    AccessDenied,
    BucketNotFound,
    ObjectNotFound,
    StorageUnavailable,
    TooLarge,
)
from app.storage.local import LocalDirectoryBackend
from app.storage.repository import Bucket, StoredObject
from app.storage.validation import (
    PUBLIC_READ,
    check_bucket_name,
    check_content_type,
    check_key,
    check_prefix,
    check_start_after,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from config import Settings

__all__ = ["ObjectPage", "ObjectStore", "StorageLimits", "object_store"]

MAX_LIST_LIMIT = 1000


@dataclass(frozen=True)
class StorageLimits:
    max_object_bytes: int
    max_user_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageLimits:
        return cls(settings.storage_max_object_bytes, settings.storage_max_user_bytes)


@dataclass(frozen=True)
class ObjectPage:
    bucket: Bucket
    objects: list[StoredObject]
    # The key to pass as `start_after` for the next page; None on the last page.
    next_start_after: str | None


@dataclass(frozen=True)
class PutResult:
    object: StoredObject
    replaced: bool


class ObjectStore:
    def __init__(self, backend: StorageBackend,
                 connect: Callable[[], AbstractContextManager[psycopg.Connection]], limits: StorageLimits) -> None:
        self.backend = backend
        self._connect = connect   # an owner connection that commits on a clean exit (pool.connection)
        self.limits = limits

    # -- reading ------------------------------------------------------------

    def list_objects(self, user_id: str | None, bucket: str, *, prefix: str = "", limit: int = 100,
                     start_after: str = "") -> ObjectPage:
        check_bucket_name(bucket)
        prefix, start_after = check_prefix(prefix), check_start_after(start_after)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_LIST_LIMIT}")
        user = _user(user_id)
        with self._connect() as conn:
            found = _bucket(conn, bucket)
            everyone = found.policy == PUBLIC_READ
            if not everyone and user is None:
                raise AccessDenied(f"bucket {bucket} is private: sign in to list your own objects")
            rows = repo.list_objects(conn, bucket, user_id=user, everyone=everyone, prefix=prefix,
                                     start_after=start_after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return ObjectPage(found, rows, rows[-1].key if more else None)

    def get_object(self, user_id: str | None, bucket: str, key: str) -> tuple[StoredObject, bytes]:
        check_bucket_name(bucket)
        check_key(key)
        user = _user(user_id)
        with self._connect() as conn:
            found = _bucket(conn, bucket)
            row = repo.get_object(conn, bucket, key)
        if row is None or not (found.policy == PUBLIC_READ or row.owner_id == user):
            raise ObjectNotFound(f"no object {key} in bucket {bucket}")
        try:
            data = self.backend.get(bucket, key)
        except ObjectNotFound:
            raise StorageUnavailable(f"the data of {bucket}/{key} is missing from the storage backend") from None
        except OSError as exc:
            raise StorageUnavailable(f"the storage backend could not read {bucket}/{key} ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != row.sha256:
            raise StorageUnavailable(f"{bucket}/{key} changed while it was read; try again")
        return row, data

    # -- writing ------------------------------------------------------------

    def put_object(self, user_id: str | None, bucket: str, key: str, data: bytes, content_type: str) -> PutResult:
        check_bucket_name(bucket)
        check_key(key)
        content_type = check_content_type(content_type, "application/octet-stream")
        user = _writer(user_id, bucket)
        if len(data) > self.limits.max_object_bytes:
            raise TooLarge(f"the object is {len(data)} bytes; at most {self.limits.max_object_bytes} bytes "
                           "may be uploaded at once")
        digest = hashlib.sha256(data).hexdigest()
        with self._connect() as conn, conn.transaction():
            _bucket(conn, bucket)
            repo.lock_user(conn, user)
            repo.lock_key(conn, bucket, key)
            existing = repo.get_object(conn, bucket, key)
            if existing is not None and existing.owner_id != user:
                raise AccessDenied(f"the key {key} in bucket {bucket} belongs to another user; choose another key")
            held = repo.user_bytes(conn, user, besides=(bucket, key))
            if held + len(data) > self.limits.max_user_bytes:
                raise TooLarge(f"this upload would bring your stored objects to {held + len(data)} bytes, past "
                               f"your quota of {self.limits.max_user_bytes} bytes; delete some objects first")
            row = repo.write_row(conn, bucket=bucket, key=key, owner_id=user, size=len(data),
                                 content_type=content_type, sha256=digest)
            # The bytes last, under the key's lock: a failed write rolls the row back with it.
            try:
                self.backend.put(bucket, key, data)
            except OSError as exc:
                raise StorageUnavailable(f"the storage backend could not write {bucket}/{key} "
                                         f"({exc.strerror})") from None
        return PutResult(row, existing is not None)

    def delete_object(self, user_id: str | None, bucket: str, key: str) -> StoredObject:
        check_bucket_name(bucket)
        check_key(key)
        user = _writer(user_id, bucket)
        with self._connect() as conn, conn.transaction():
            found = _bucket(conn, bucket)
            repo.lock_key(conn, bucket, key)
            row = repo.get_object(conn, bucket, key)
            if row is None or not (found.policy == PUBLIC_READ or row.owner_id == user):
                raise ObjectNotFound(f"no object {key} in bucket {bucket}")
            if row.owner_id != user:
                raise AccessDenied(f"{bucket}/{key} belongs to another user; only its owner may delete it")
            repo.delete_row(conn, bucket, key)
            try:
                self.backend.delete(bucket, key)
            except OSError as exc:
                raise StorageUnavailable(f"the storage backend could not delete {bucket}/{key} "
                                         f"({exc.strerror})") from None
        return row


def object_store(settings: Settings, pool: ConnectionPool) -> ObjectStore:
    """The store the server uses: the local folder STORAGE_DIR, metadata through the owner pool."""
    return ObjectStore(LocalDirectoryBackend(settings.storage_dir), pool.connection,
                       StorageLimits.from_settings(settings))


def _bucket(conn: psycopg.Connection, name: str) -> Bucket:
    found = repo.get_bucket(conn, name)
    if found is None:
        raise BucketNotFound(f"there is no bucket {name}")
    return found


def _user(user_id: str | None) -> str | None:
    """The caller's id as the metadata stores it; a caller whose id is not a UUID is treated as anonymous."""
    if user_id is None:
        return None
    try:
        return str(uuid.UUID(str(user_id)))
    except ValueError:
        return None


def _writer(user_id: str | None, bucket: str) -> str:
    user = _user(user_id)
    if user is None:
        raise AccessDenied(f"only a signed-in user may write to bucket {bucket}")
    return user
