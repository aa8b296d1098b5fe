"""The default backend: objects as files under one root folder.

A key never becomes a path as written: its UTF-8 bytes are hex-encoded, so every name the backend
creates is made of `0-9a-f` (split into 240-character folders, under the 255-byte name limit of
common file systems, with `.o` on the file), and no key, whatever it holds, can name a file outside
`ROOT/<bucket>/o/`. The encoding is reversible, so `list` needs no index of its own.

Writes go to a temporary file in `ROOT/<bucket>/tmp/` (the same file system), are flushed to disk,
and are renamed over the object: `os.replace` is atomic, so a reader gets the old bytes or the new.
Empty folders left by deleted long keys are kept: removing them would race a write creating them.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from app.storage.errors import InvalidName, ObjectNotFound
from app.storage.validation import check_bucket_name, check_key

__all__ = ["LocalDirectoryBackend"]

_CHUNK = 240
_SUFFIX = ".o"


class LocalDirectoryBackend:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / check_bucket_name(bucket)

    def path_of(self, bucket: str, key: str) -> Path:
        hexed = check_key(key).encode("utf-8").hex()
        parts = [hexed[i:i + _CHUNK] for i in range(0, len(hexed), _CHUNK)]
        parts[-1] += _SUFFIX
        path = self._bucket_dir(bucket).joinpath("o", *parts)
        # Cannot fail with hex names; kept so a future change to the mapping cannot silently escape.
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise InvalidName("the key maps outside the storage root")
        return path

    def put(self, bucket: str, key: str, data: bytes) -> None:
        target = self.path_of(bucket, key)
        scratch = self._bucket_dir(bucket) / "tmp"
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=scratch, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self.path_of(bucket, key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"no stored data for {bucket}/{key}") from None

    def delete(self, bucket: str, key: str) -> bool:
        try:
            self.path_of(bucket, key).unlink()
        except FileNotFoundError:
            return False
        return True

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        base = self._bucket_dir(bucket) / "o"
        keys = []
        for folder, _dirs, files in os.walk(base):
            relative = Path(folder).relative_to(base).parts
            for name in files:
                if not name.endswith(_SUFFIX):
                    continue
                try:
                    key = bytes.fromhex("".join(relative) + name[:-len(_SUFFIX)]).decode("utf-8")
                except ValueError:  # not a name this backend wrote
                    continue
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys, key=lambda k: k.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once its folder is on disk too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
