"""What can go wrong in the storage layer; each message is fit for the end user (and the model) to read."""
from __future__ import annotations


class StorageError(Exception):
    """A request the storage layer refused or could not serve; `str()` says why."""


class InvalidName(StorageError):
    """A bucket name, key, prefix or content type that is not allowed."""


class BucketNotFound(StorageError):
    pass


class BucketExists(StorageError):
    pass


class ObjectNotFound(StorageError):
    """No such object, or one the caller may not see (the two are not told apart)."""


class AccessDenied(StorageError):
    pass


class TooLarge(StorageError):
    """Past the size cap of one object or the caller's quota."""


class StorageUnavailable(StorageError):
    """The backend failed (disk full, data missing or changed under a read); nothing the caller did."""
