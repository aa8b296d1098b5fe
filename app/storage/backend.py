"""The interface a storage backend implements: bytes by (bucket, key), nothing about owners or policies.

Access decisions are the `ObjectStore`'s; a backend only stores what it is handed, under names the
store has validated (app.storage.validation). A backend must write atomically: a reader sees the
old bytes or the new ones, never a part.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["StorageBackend"]


@runtime_checkable
class StorageBackend(Protocol):
    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Store `data` under the key, replacing what was there, atomically."""

    def get(self, bucket: str, key: str) -> bytes:
        """The stored bytes; `ObjectNotFound` when there are none."""

    def delete(self, bucket: str, key: str) -> bool:
        """Remove the bytes; False when there were none."""

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Every stored key of the bucket starting with `prefix`, in byte order (for maintenance:
        listings the end user sees come from the metadata, which knows the owners)."""
