"""Object storage for the storage tools: buckets of named objects, each owned by one user.

The bytes live in a backend behind `StorageBackend` (a local folder by default, `local.py`); who
owns an object and who may read it lives in PostgreSQL (`repository.py`, migration 0016). The
`ObjectStore` (`store.py`) joins the two and makes every access decision from the end user's id.
"""
from app.storage.errors import (
    AccessDenied,
    BucketExists,
    BucketNotFound,
    InvalidName,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    TooLarge,
)
from app.storage.store import ObjectStore, StorageLimits, object_store

__all__ = ["AccessDenied", "BucketExists", "BucketNotFound", "InvalidName", "ObjectNotFound", "ObjectStore",
           "StorageError", "StorageLimits", "StorageUnavailable", "TooLarge", "object_store"]
