"""The local folder backend: every name it creates stays under its root, writes are atomic, and its
listing decodes the keys back."""
import os

import pytest

from app.storage.errors import InvalidName, ObjectNotFound
from app.storage.local import LocalDirectoryBackend

TRICKY = ["..hidden", "a..b/c", "x/.../y", "名前/ファイル.txt", "with space.txt", "k" * 1024, "a", "a/b"]


def _all_files(root):
    return [os.path.join(folder, name) for folder, _dirs, files in os.walk(root) for name in files]


def test_tricky_keys_round_trip_and_every_file_is_hex_named_under_the_bucket(backend):
    for n, key in enumerate(TRICKY):
        backend.put("docs", key, f"body {n}".encode())
    for n, key in enumerate(TRICKY):
        assert backend.get("docs", key) == f"body {n}".encode()
    objects = backend.root / "docs" / "o"
    files = _all_files(backend.root)
    assert len(files) == len(TRICKY)   # no temporary file left behind
    for path in files:
        relative = os.path.relpath(path, objects)
        assert not relative.startswith("..")
        assert set(relative.removesuffix(".o")) <= set("0123456789abcdef/")
        assert all(len(part) <= 242 for part in relative.split("/"))   # under the 255-byte name limit


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a\x00b", "..\\x", ""])
def test_a_hostile_key_is_refused_before_any_file_is_touched(backend, key):
    with pytest.raises(InvalidName):
        backend.put("docs", key, b"x")
    with pytest.raises(InvalidName):
        backend.get("docs", key)
    assert not backend.root.exists()


@pytest.mark.parametrize("bucket", ["..", "../x", "A", "a/b"])
def test_a_hostile_bucket_name_is_refused(backend, bucket):
    with pytest.raises(InvalidName):
        backend.put(bucket, "k", b"x")
    assert not backend.root.exists()


def test_a_put_replaces_and_a_failed_put_leaves_the_old_bytes_and_no_temporary_file(backend, monkeypatch):
    backend.put("docs", "report.txt", b"version 1")
    backend.put("docs", "report.txt", b"version 2")
    assert backend.get("docs", "report.txt") == b"version 2"

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        backend.put("docs", "report.txt", b"version 3, never complete")
    monkeypatch.undo()
    assert backend.get("docs", "report.txt") == b"version 2"
    assert len(_all_files(backend.root)) == 1


def test_a_reader_sees_the_old_or_the_new_bytes_never_a_part(backend, monkeypatch):
    backend.put("docs", "big.bin", b"old" * 1000)
    seen = []
    real_replace = os.replace

    def read_then_replace(src, dst):
        # The new bytes are complete in the temporary file; the object still has the old ones.
        seen.append(backend.get("docs", "big.bin"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", read_then_replace)
    backend.put("docs", "big.bin", b"new" * 1000)
    assert seen == [b"old" * 1000]
    assert backend.get("docs", "big.bin") == b"new" * 1000


def test_delete_and_missing_objects(backend):
    backend.put("docs", "a/b", b"1")
    assert backend.delete("docs", "a/b") is True
    assert backend.delete("docs", "a/b") is False
    with pytest.raises(ObjectNotFound):
        backend.get("docs", "a/b")


def test_list_decodes_keys_in_byte_order_with_a_prefix(backend):
    keys = ["b", "a/2", "a/10", "a/1", "ab", "é", "k" * 700]
    for key in keys:
        backend.put("docs", key, b"x")
    backend.put("other", "a/3", b"x")
    assert backend.list("docs") == sorted(keys, key=str.encode)
    assert backend.list("docs", "a/") == ["a/1", "a/10", "a/2"]
    assert backend.list("docs", "k") == ["k" * 700]
    assert backend.list("empty") == []


def test_the_root_can_be_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backend = LocalDirectoryBackend("store")
    backend.put("docs", "k", b"v")
    assert (tmp_path / "store" / "docs" / "o" / "6b.o").read_bytes() == b"v"
