"""The storage layer on real PostgreSQL: owner rules of private and public-read buckets, caps and
quotas, listing pages, and the metadata and the bytes staying in step."""
import threading

import psycopg
import pytest

from app.storage import repository as repo
from app.storage.errors import (
    AccessDenied,
    BucketNotFound,
    InvalidName,
    ObjectNotFound,
    StorageUnavailable,
    TooLarge,
)
from app.storage.store import ObjectStore, StorageLimits, object_store
from tests.app.storage.conftest import MAX_OBJECT, MAX_USER


def test_a_private_bucket_shows_each_object_only_to_its_owner(store, make_bucket, users):
    alice, bob = users
    bucket = make_bucket("private")
    put = store.put_object(alice, bucket, "notes/plan.txt", b"alice's plan", "text/plain")
    assert put.replaced is False and put.object.owner_id == alice and put.object.size == 12
    store.put_object(bob, bucket, "notes/bob.txt", b"bob's", "text/plain")

    row, data = store.get_object(alice, bucket, "notes/plan.txt")
    assert data == b"alice's plan" and row.content_type == "text/plain"
    assert [o.key for o in store.list_objects(alice, bucket).objects] == ["notes/plan.txt"]
    assert [o.key for o in store.list_objects(bob, bucket).objects] == ["notes/bob.txt"]
    # Bob is told exactly what he would be told of a key nobody has.
    with pytest.raises(ObjectNotFound, match="no object notes/plan.txt in bucket"):
        store.get_object(bob, bucket, "notes/plan.txt")
    with pytest.raises(ObjectNotFound):
        store.delete_object(bob, bucket, "notes/plan.txt")
    with pytest.raises(AccessDenied, match="belongs to another user"):
        store.put_object(bob, bucket, "notes/plan.txt", b"overwritten", "text/plain")
    assert store.get_object(alice, bucket, "notes/plan.txt")[1] == b"alice's plan"


def test_anonymous_callers_cannot_use_a_private_bucket(store, make_bucket, users):
    alice, _ = users
    bucket = make_bucket("private")
    store.put_object(alice, bucket, "k", b"v", "text/plain")
    with pytest.raises(AccessDenied, match="private"):
        store.list_objects(None, bucket)
    with pytest.raises(ObjectNotFound):
        store.get_object(None, bucket, "k")
    with pytest.raises(AccessDenied, match="signed-in"):
        store.put_object(None, bucket, "mine", b"v", "text/plain")
    # A subject that is not a UUID is nobody, not an owner.
    with pytest.raises(AccessDenied):
        store.put_object("not-a-uuid", bucket, "mine", b"v", "text/plain")


def test_a_public_read_bucket_is_read_by_everyone_and_written_only_by_owners(store, make_bucket, users):
    alice, bob = users
    bucket = make_bucket("public-read")
    store.put_object(alice, bucket, "price-list.csv", b"sku,price\n1,2\n", "text/csv")
    for reader in (alice, bob, None):
        assert store.get_object(reader, bucket, "price-list.csv")[1] == b"sku,price\n1,2\n"
        assert [o.key for o in store.list_objects(reader, bucket).objects] == ["price-list.csv"]
    with pytest.raises(AccessDenied, match="belongs to another user"):
        store.put_object(bob, bucket, "price-list.csv", b"sku,price\n1,0\n", "text/csv")
    with pytest.raises(AccessDenied, match="only its owner may delete"):
        store.delete_object(bob, bucket, "price-list.csv")
    with pytest.raises(AccessDenied):
        store.delete_object(None, bucket, "price-list.csv")
    store.put_object(bob, bucket, "bob.csv", b"x", "text/csv")
    assert [o.key for o in store.list_objects(None, bucket).objects] == ["bob.csv", "price-list.csv"]
    deleted = store.delete_object(alice, bucket, "price-list.csv")
    assert deleted.key == "price-list.csv"
    with pytest.raises(ObjectNotFound):
        store.get_object(alice, bucket, "price-list.csv")


def test_an_owner_replaces_their_object(store, make_bucket, users, owner_conn):
    alice, _ = users
    bucket = make_bucket()
    first = store.put_object(alice, bucket, "r.txt", b"one", "text/plain").object
    second = store.put_object(alice, bucket, "r.txt", b"two!", "text/markdown")
    assert second.replaced is True and second.object.size == 4 and second.object.content_type == "text/markdown"
    assert second.object.created_at == first.created_at and second.object.updated_at >= first.updated_at
    assert store.get_object(alice, bucket, "r.txt")[1] == b"two!"
    assert owner_conn.execute("select count(*) from ai.storage_objects where bucket = %s", (bucket,)).fetchone()[0] == 1


def test_unknown_buckets_and_bad_names(store, users):
    alice, _ = users
    with pytest.raises(BucketNotFound, match="there is no bucket nope"):
        store.put_object(alice, "nope", "k", b"v", "text/plain")
    with pytest.raises(BucketNotFound):
        store.list_objects(alice, "nope")
    with pytest.raises(BucketNotFound):
        store.get_object(alice, "nope", "k")
    with pytest.raises(InvalidName):
        store.put_object(alice, "../etc", "k", b"v", "text/plain")
    with pytest.raises(InvalidName):
        store.put_object(alice, "reports", "../../etc/passwd", b"v", "text/plain")
    with pytest.raises(InvalidName):
        store.get_object(alice, "reports", "/etc/passwd")
    with pytest.raises(InvalidName):
        store.put_object(alice, "reports", "k", b"v", "text/plain\r\nX: y")


def test_an_object_over_the_cap_is_refused_and_nothing_is_stored(store, make_bucket, users, backend):
    alice, _ = users
    bucket = make_bucket()
    store.put_object(alice, bucket, "max", b"x" * MAX_OBJECT, "application/octet-stream")
    with pytest.raises(TooLarge, match=f"at most {MAX_OBJECT} bytes"):
        store.put_object(alice, bucket, "over", b"x" * (MAX_OBJECT + 1), "application/octet-stream")
    assert [o.key for o in store.list_objects(alice, bucket).objects] == ["max"]
    assert backend.list(bucket) == ["max"]


def test_the_user_quota_counts_every_bucket_and_a_replacement_only_once(store, make_bucket, users):
    alice, bob = users
    one, two = make_bucket(), make_bucket("public-read")
    store.put_object(alice, one, "a", b"x" * 1000, "application/octet-stream")
    store.put_object(alice, two, "b", b"x" * 1000, "application/octet-stream")
    with pytest.raises(TooLarge, match=f"quota of {MAX_USER} bytes"):
        store.put_object(alice, one, "c", b"x" * 600, "application/octet-stream")
    # Replacing "a" frees its 1000 bytes first, so 1400 fit.
    store.put_object(alice, one, "a", b"y" * 500, "application/octet-stream")
    store.put_object(alice, one, "c", b"x" * 1000, "application/octet-stream")
    store.put_object(bob, one, "d", b"x" * 1000, "application/octet-stream")   # bob's own quota
    store.delete_object(alice, two, "b")
    store.put_object(alice, two, "e", b"x" * 1000, "application/octet-stream")


def test_concurrent_uploads_cannot_overrun_the_quota_together(store, make_bucket, users):
    alice, _ = users
    bucket = make_bucket()
    barrier = threading.Barrier(5)
    outcomes = []

    def upload(n):
        barrier.wait()
        try:
            store.put_object(alice, bucket, f"k{n}", b"x" * 600, "application/octet-stream")
            outcomes.append("stored")
        except TooLarge:
            outcomes.append("refused")

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused"] + ["stored"] * 4   # 4 x 600 <= 2500 < 5 x 600
    assert len(store.list_objects(alice, bucket).objects) == 4


def test_listing_pages_with_prefix_and_start_after(store, make_bucket, users):
    alice, bob = users
    bucket = make_bucket()
    keys = [f"sales/{n:02d}.csv" for n in range(7)] + ["sales.txt", "other/1", "zeta"]
    for key in keys:
        store.put_object(alice, bucket, key, b"1", "text/csv")
    store.put_object(bob, bucket, "sales/bob.csv", b"1", "text/csv")
    page = store.list_objects(alice, bucket, prefix="sales/", limit=3)
    assert [o.key for o in page.objects] == ["sales/00.csv", "sales/01.csv", "sales/02.csv"]
    assert page.next_start_after == "sales/02.csv"
    seen = [o.key for o in page.objects]
    while page.next_start_after:
        page = store.list_objects(alice, bucket, prefix="sales/", limit=3, start_after=page.next_start_after)
        seen += [o.key for o in page.objects]
    assert seen == [f"sales/{n:02d}.csv" for n in range(7)]   # bob's object never listed for alice
    exact = store.list_objects(alice, bucket, prefix="sales/", limit=7)
    assert len(exact.objects) == 7 and exact.next_start_after is None
    assert [o.key for o in store.list_objects(alice, bucket, start_after="sales/06.csv").objects] == ["zeta"]
    # Byte order: '.' sorts before '/'.
    assert [o.key for o in store.list_objects(alice, bucket).objects][:3] == ["other/1", "sales.txt", "sales/00.csv"]
    assert store.list_objects(alice, bucket, prefix="nothing/").objects == []
    # Prefixes are literal: LIKE wildcards match nothing.
    assert store.list_objects(alice, bucket, prefix="sales_").objects == []
    assert store.list_objects(alice, bucket, prefix="%").objects == []
    with pytest.raises(ValueError):
        store.list_objects(alice, bucket, limit=1001)


def test_bytes_changed_behind_the_metadata_are_refused_not_returned(store, make_bucket, users, backend):
    alice, _ = users
    bucket = make_bucket()
    store.put_object(alice, bucket, "k", b"right", "text/plain")
    backend.path_of(bucket, "k").write_bytes(b"wrong")
    with pytest.raises(StorageUnavailable, match="changed while it was read"):
        store.get_object(alice, bucket, "k")
    backend.path_of(bucket, "k").unlink()
    with pytest.raises(StorageUnavailable, match="missing"):
        store.get_object(alice, bucket, "k")


def test_a_failed_write_of_the_bytes_rolls_the_metadata_back(store, make_bucket, users, backend, monkeypatch):
    alice, _ = users
    bucket = make_bucket()
    store.put_object(alice, bucket, "k", b"v1", "text/plain")

    def fail(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backend, "put", fail)
    with pytest.raises(StorageUnavailable, match="No space left"):
        store.put_object(alice, bucket, "k", b"v2 longer", "text/plain")
    with pytest.raises(StorageUnavailable):
        store.put_object(alice, bucket, "new", b"v", "text/plain")
    monkeypatch.undo()
    row, data = store.get_object(alice, bucket, "k")
    assert data == b"v1" and row.size == 2
    assert [o.key for o in store.list_objects(alice, bucket).objects] == ["k"]


def test_a_deleted_bucket_takes_its_metadata_with_it(store, make_bucket, users, owner_conn):
    alice, _ = users
    bucket = make_bucket()
    store.put_object(alice, bucket, "k", b"v", "text/plain")
    owner_conn.execute("delete from ai.storage_buckets where name = %s", (bucket,))
    assert owner_conn.execute("select count(*) from ai.storage_objects where bucket = %s",
                              (bucket,)).fetchone()[0] == 0


def test_end_user_roles_have_no_privilege_on_the_metadata(owner_conn):
    for role in ("anon", "authenticated", "authenticator"):
        for table in ("ai.storage_buckets", "ai.storage_objects"):
            granted = owner_conn.execute(
                "select has_table_privilege(%s, %s, 'SELECT') or has_table_privilege(%s, %s, 'INSERT')",
                (role, table, role, table)).fetchone()[0]
            assert granted is False, (role, table)


def test_the_database_refuses_rows_the_layer_would_never_write(owner_conn, make_bucket):
    bucket = make_bucket()
    with pytest.raises(psycopg.errors.CheckViolation):
        owner_conn.execute("insert into ai.storage_buckets (name, policy) values ('ok-name', 'world-writable')")
    with pytest.raises(psycopg.errors.CheckViolation):
        owner_conn.execute("insert into ai.storage_buckets (name) values ('../x')")
    with pytest.raises(psycopg.errors.CheckViolation):
        owner_conn.execute("insert into ai.storage_objects (bucket, key, owner_id, size, content_type, sha256) "
                           "values (%s, 'k', gen_random_uuid(), 1, 'text/plain', 'not-a-digest')", (bucket,))


def test_create_bucket_is_idempotent_and_object_store_uses_the_settings(database, owner_conn, tmp_path):
    assert repo.create_bucket(owner_conn, "reports-x", "private") is not None
    assert repo.create_bucket(owner_conn, "reports-x", "public-read") is None
    assert repo.get_bucket(owner_conn, "reports-x").policy == "private"

    class Pool:
        def connection(self):
            return psycopg.connect(database.database_url)

    settings = database.replace(storage_dir=tmp_path / "s", storage_max_object_bytes=5)
    store = object_store(settings, Pool())
    assert isinstance(store, ObjectStore) and store.limits == StorageLimits(5, settings.storage_max_user_bytes)
    assert store.backend.root == tmp_path / "s"
    assert database.storage_dir == database.data_dir / "storage"
