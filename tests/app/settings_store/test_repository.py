"""app.settings through the repository on the real database: scopes, kinds, sealing, the table's own checks."""
import uuid

import psycopg
import pytest

from app.secrets.sealing import SealError
from app.settings_store import repository as store
from app.settings_store.values import (
    InvalidSetting,
    as_text,
    check_key,
    check_secret,
    check_user_id,
    check_value,
)


@pytest.fixture
def user(owner_conn):
    user_id = str(uuid.uuid4())
    yield user_id
    owner_conn.execute("delete from app.settings where user_id = %s or key like 'repo-test.%%'", (user_id,))


def test_a_user_and_the_system_each_have_their_own_row_under_one_key(owner_conn, user):
    system = store.put_value(owner_conn, "repo-test.theme", None, "light", description="default theme")
    mine = store.put_value(owner_conn, "repo-test.theme", user, {"mode": "dark"})
    assert (system.user_id, mine.user_id) == (None, user) and system.id != mine.id
    replaced = store.put_value(owner_conn, "repo-test.theme", None, "sepia", keep_description=True)
    assert (replaced.id, replaced.value, replaced.description) == (system.id, "sepia", "default theme")
    assert [row.key for row in store.list_scope(owner_conn, user)] == ["repo-test.theme"]
    assert {row.user_id for row in store.load_many(owner_conn, ["repo-test.theme"], user)} == {None, user}
    assert {row.user_id for row in store.load_many(owner_conn, ["repo-test.theme"], None)} == {None}
    with pytest.raises(store.SettingExists):
        store.put_value(owner_conn, "repo-test.theme", user, "x", mode=store.Write.CREATE)
    with pytest.raises(store.SettingNotFound):
        store.put_value(owner_conn, "repo-test.absent", user, "x", mode=store.Write.UPDATE)
    assert store.delete(owner_conn, "repo-test.theme", user) and not store.delete(owner_conn, "repo-test.theme", user)
    assert store.get(owner_conn, "repo-test.theme", None).value == "sepia"


def test_secrets_are_sealed_per_user_and_key_and_never_change_kind_silently(owner_conn, user, settings):
    row = store.put_secret(owner_conn, settings.encryption_key, "repo-test.key", user, "canary-repo-0001")
    stored = owner_conn.execute("select value, encrypted_value from app.settings where id = %s", (row.id,)).fetchone()
    assert stored[0] is None and stored[1].startswith("v1.") and "canary-repo-0001" not in stored[1]
    assert row.value is None and row.has_value and "canary" not in repr(row)
    assert store.open_secret(settings.encryption_key, row) == "canary-repo-0001"
    # The same sealed text under another user, or another key, does not open.
    other = str(uuid.uuid4())
    moved = store.SettingRow(**{**row.__dict__, "user_id": other})
    renamed = store.SettingRow(**{**row.__dict__, "key": "repo-test.other"})
    system = store.SettingRow(**{**row.__dict__, "user_id": None})
    for wrong in (moved, renamed, system):
        with pytest.raises(SealError):
            store.open_secret(settings.encryption_key, wrong)
    kept = store.put_secret(owner_conn, settings.encryption_key, "repo-test.key", user, None, description="d",
                            mode=store.Write.UPDATE)
    assert store.open_secret(settings.encryption_key, kept) == "canary-repo-0001" and kept.description == "d"
    with pytest.raises(store.KindMismatch, match="is a secret"):
        store.put_value(owner_conn, "repo-test.key", user, "plain now")
    store.put_value(owner_conn, "repo-test.plain", user, "x")
    with pytest.raises(store.KindMismatch, match="is a plain"):
        store.put_secret(owner_conn, settings.encryption_key, "repo-test.plain", user, "canary-repo-0002")
    assert not store.delete(owner_conn, "repo-test.key", user, secret=False)
    assert store.delete(owner_conn, "repo-test.key", user, secret=True)


def test_the_table_refuses_what_the_repository_never_writes(owner_conn):
    for sql in ("insert into app.settings (key, value) values ('.bad', '1')",
                "insert into app.settings (key, value) values ('repo-test.null', 'null')",
                "insert into app.settings (key) values ('repo-test.none')"):
        with pytest.raises(psycopg.errors.CheckViolation):
            owner_conn.execute(sql)


def test_value_rules_and_how_values_read_in_templates():
    assert check_key("pelias.endpoint") == "pelias.endpoint"
    for bad in ("", ".x", "a b", "a/b", "x" * 201, 5, None):
        with pytest.raises(InvalidSetting):
            check_key(bad)
    assert check_user_id("A11CE000-0000-4000-8000-000000000001") == "a11ce000-0000-4000-8000-000000000001"
    with pytest.raises(InvalidSetting, match="not a user id"):
        check_user_id("abc123")
    for bad in (None, float("nan"), "x" * 70_000):
        with pytest.raises(InvalidSetting):
            check_value(bad)
    assert check_value({"a\x00": "b\x00"}) == {"a\ufffd": "b\ufffd"}
    # Too short to scrub safely (or to resist guessing), too long, and what an HTTP header cannot carry.
    for bad in ("abc", "1234567", "x" * 8193, "line\nbreak-here", "tab\there-123", " padded-key-1", "vt\x0bvalue-1",
                "sep\u2028value", "abcd\ud800efgh", 1234):
        with pytest.raises(InvalidSetting):
            check_secret(bad)
    assert check_secret("sk-live-0123456789") == "sk-live-0123456789"
    nested = []
    for _ in range(700):
        nested = [nested]
    with pytest.raises(InvalidSetting, match="nested"):
        check_value(nested)
    assert [as_text(v) for v in ("text", 42, 2.5, True, None, {"value": 7}, {"a": 1}, [1, "b"])] == \
        ["text", "42", "2.5", "true", "", "7", '{"a": 1}', '[1, "b"]']
