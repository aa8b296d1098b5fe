"""The settings REST APIs (a user's own at /api/v1/settings, the admins' at /api/v1/admin/settings) through the
Flask test client on a real database, at the paths and in the shapes Fluxbase's SDK uses (sdk/src/settings.ts).
A secret's value is in no answer: every response body of these tests is checked for the canary."""
from __future__ import annotations

import uuid

import pytest

from app.auth.tokens import mint
from app.settings_store import repository as store
from tests.conftest import TEST_SECRET, TEST_SERVICE_KEY

USER = "/api/v1/settings"
ADMIN = "/api/v1/admin/settings"
SERVICE = {"apikey": TEST_SERVICE_KEY, "Authorization": f"Bearer {TEST_SERVICE_KEY}"}
CANARY = "web-canary-5c2e8f1a9b"
SETTING_KEYS = {"id", "key", "value", "value_type", "description", "user_id", "is_secret", "has_value", "created_at",
                "updated_at"}


def as_user(user_id: str, role: str = "authenticated") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(TEST_SECRET, role=role, user_id=user_id)}"}


class Api:
    """The test client, with every answer checked never to carry the canary."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, method):
        def call(*args, **kwargs):
            response = getattr(self._client, method)(*args, **kwargs)
            assert CANARY not in response.get_data(as_text=True), (method, args)
            return response
        return call


@pytest.fixture
def api(app, owner_conn):
    yield Api(app.test_client())
    owner_conn.execute("delete from app.settings where key like 'api-test.%%'")


@pytest.fixture
def alice():
    return str(uuid.uuid4())


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["code"]


def test_anonymous_callers_and_the_service_key_own_no_settings(api):
    for headers in ({}, SERVICE, {"Authorization": f"Bearer {mint(TEST_SECRET, role='anon')}"}):
        for method, path in (("get", "/user/list"), ("put", "/user/api-test.k"), ("get", "/secret/"),
                             ("post", "/secret/"), ("get", "/api-test.k"), ("post", "/batch")):
            response = getattr(api, method)(USER + path, headers=headers, json={})
            assert error_of(response) == (401, "AUTH_REQUIRED"), (headers, path)


def test_a_user_manages_their_own_plain_settings_and_reads_the_systems(api, alice):
    me = as_user(alice)
    assert api.get(USER + "/user/list", headers=me).get_json() == []
    created = api.put(USER + "/user/api-test.theme", headers=me, json={"value": {"mode": "dark"},
                                                                        "description": "mine"})
    assert created.status_code == 200
    body = created.get_json()
    assert set(body) == SETTING_KEYS and (body["user_id"], body["value"], body["value_type"]) == \
        (alice, {"mode": "dark"}, "json")
    assert api.put(USER + "/user/api-test.theme", headers=me, json={"value": "light"}).get_json()["description"] == "mine"
    assert [s["key"] for s in api.get(USER + "/user/list", headers=me).get_json()] == ["api-test.theme"]
    assert api.get(USER + "/user/own/api-test.theme", headers=me).get_json()["value"] == "light"
    # The system's, by an admin; the user reads it, with the source the SDK's getSetting returns.
    assert api.post(ADMIN + "/custom", headers=SERVICE, json={"key": "api-test.endpoint", "value": "https://e"}) \
        .status_code == 201
    fallback = api.get(USER + "/user/api-test.endpoint", headers=me).get_json()
    assert (fallback["value"], fallback["source"]) == ("https://e", "system")
    assert api.get(USER + "/api-test.endpoint", headers=me).get_json()["value"] == "https://e"   # settings.get(key)
    assert api.get(USER + "/user/system/api-test.endpoint", headers=me).get_json() == \
        {"key": "api-test.endpoint", "value": "https://e", "is_secret": False, "has_value": True}
    assert api.get(USER + "/user/api-test.theme", headers=me).get_json()["source"] == "user"
    assert error_of(api.get(USER + "/user/own/api-test.endpoint", headers=me)) == (404, "SETTING_NOT_FOUND")
    batch = api.post(USER + "/batch", headers=me, json={"keys": ["api-test.theme", "api-test.endpoint", "api-test.x"]})
    assert [(s["key"], s["source"]) for s in batch.get_json()] == [("api-test.theme", "user"),
                                                                   ("api-test.endpoint", "system")]
    deleted = api.delete(USER + "/user/api-test.theme", headers=me)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert error_of(api.delete(USER + "/user/api-test.theme", headers=me)) == (404, "SETTING_NOT_FOUND")
    # Nobody writes a system setting from the user API: there is no path for it.
    assert api.put(USER + "/user/system/api-test.endpoint", headers=me, json={"value": "x"}).status_code == 405


def test_a_users_secret_is_written_never_read_back(api, alice, owner_conn, settings):
    me = as_user(alice)
    created = api.post(USER + "/secret/", headers=me, json={"key": "api-test.key", "value": CANARY})
    assert created.status_code == 201
    body = created.get_json()
    assert (body["value"], body["is_secret"], body["has_value"], body["user_id"]) == (None, True, True, alice)
    assert error_of(api.post(USER + "/secret/", headers=me, json={"key": "api-test.key", "value": CANARY})) == \
        (409, "SETTING_EXISTS")
    assert api.get(USER + "/secret/api-test.key", headers=me).get_json()["value"] is None
    assert [s["key"] for s in api.get(USER + "/secret/", headers=me).get_json()] == ["api-test.key"]
    assert api.get(USER + "/user/list", headers=me).get_json() == []     # plain ones only, as Fluxbase lists them
    for path in ("/user/api-test.key", "/api-test.key", "/user/own/api-test.key"):
        shown = api.get(USER + path, headers=me).get_json()
        assert (shown["value"], shown["is_secret"]) == (None, True), path
    updated = api.put(USER + "/secret/api-test.key", headers=me, json={"description": "weather"})
    assert updated.get_json()["description"] == "weather"
    row = store.get(owner_conn, "api-test.key", alice)
    assert store.open_secret(settings.encryption_key, row) == CANARY      # a description change keeps the value
    assert api.put(USER + "/secret/api-test.key", headers=me, json={"value": CANARY + "-2"}).status_code == 200
    assert store.open_secret(settings.encryption_key, store.get(owner_conn, "api-test.key", alice)) == CANARY + "-2"
    # A secret stays a secret: no plain write over it; the SDK's setSecret finds 404 only when there is none.
    assert error_of(api.put(USER + "/user/api-test.key", headers=me, json={"value": "x"})) == (409, "SETTING_EXISTS")
    assert error_of(api.put(USER + "/secret/api-test.none", headers=me, json={"value": CANARY})) == \
        (404, "SETTING_NOT_FOUND")
    assert error_of(api.delete(USER + "/user/api-test.key", headers=me)) == (404, "SETTING_NOT_FOUND")
    assert api.delete(USER + "/secret/api-test.key", headers=me).status_code == 204


def test_one_user_never_sees_or_changes_anothers_settings(api, alice):
    bob = str(uuid.uuid4())
    api.put(USER + "/user/api-test.private", headers=as_user(bob), json={"value": "bob's"})
    api.post(USER + "/secret/", headers=as_user(bob), json={"key": "api-test.bobkey", "value": CANARY})
    me = as_user(alice)
    assert error_of(api.get(USER + "/user/api-test.private", headers=me)) == (404, "SETTING_NOT_FOUND")
    assert api.get(USER + "/secret/", headers=me).get_json() == []
    assert error_of(api.delete(USER + "/secret/api-test.bobkey", headers=me)) == (404, "SETTING_NOT_FOUND")
    assert api.post(USER + "/batch", headers=me, json={"keys": ["api-test.private"]}).get_json() == []
    for path in ("", "/custom", "/custom/secrets"):
        assert error_of(api.get(ADMIN + path, headers=me)) == (403, "FORBIDDEN")
    assert error_of(api.get(ADMIN + "/custom")) == (401, "AUTH_REQUIRED")
    # `?user_id=` addresses nobody else on a user's endpoints: refused, not silently answered for the caller.
    for method, path in (("get", "/user/list"), ("put", "/user/api-test.private")):
        refused = getattr(api, method)(USER + path + f"?user_id={bob}", headers=me, json={"value": "x"})
        assert error_of(refused) == (400, "INVALID_REQUEST") and refused.get_json()["field"] == "user_id"
    assert error_of(api.get(USER + "/user/api-test.private", headers=me)) == (404, "SETTING_NOT_FOUND")


def test_admins_manage_the_systems_settings_and_any_users(api, alice):
    created = api.post(ADMIN + "/custom", headers=SERVICE, json={
        "key": "api-test.tiers", "value": {"free": 1000}, "value_type": "json", "description": "quotas",
        "is_public": False, "is_secret": False})
    assert created.status_code == 201 and created.get_json()["user_id"] is None
    assert error_of(api.post(ADMIN + "/custom", headers=SERVICE, json={"key": "api-test.tiers", "value": 1})) == \
        (409, "SETTING_EXISTS")
    assert api.get(ADMIN + "/custom/api-test.tiers", headers=SERVICE).get_json()["value"] == {"free": 1000}
    assert api.put(ADMIN + "/custom/api-test.tiers", headers=SERVICE, json={"value": {"free": 5}}).get_json()[
        "description"] == "quotas"
    assert error_of(api.put(ADMIN + "/custom/api-test.absent", headers=SERVICE, json={"value": 1})) == \
        (404, "SETTING_NOT_FOUND")
    secret = api.post(ADMIN + "/custom/secret", headers=SERVICE, json={"key": "api-test.stripe", "value": CANARY})
    assert secret.status_code == 201 and secret.get_json()["value"] is None
    assert api.get(ADMIN + "/custom/secret/api-test.stripe", headers=SERVICE).get_json()["is_secret"] is True
    assert [s["key"] for s in api.get(ADMIN + "/custom/secrets", headers=SERVICE).get_json()
            if s["key"].startswith("api-test.")] == ["api-test.stripe"]
    # A user's, with ?user_id=: what that user then reads as their own.
    scoped = f"?user_id={alice}"
    assert api.post(ADMIN + "/custom/secret" + scoped, headers=SERVICE,
                    json={"key": "api-test.maps", "value": CANARY}).get_json()["user_id"] == alice
    assert api.post(ADMIN + "/custom" + scoped, headers=SERVICE, json={"key": "api-test.units", "value": "km"}) \
        .status_code == 201
    everything = api.get(ADMIN + scoped, headers=SERVICE).get_json()
    assert [(s["key"], s["is_secret"]) for s in everything["settings"]] == [("api-test.maps", True),
                                                                            ("api-test.units", False)]
    assert everything["count"] == 2
    assert api.get(USER + "/secret/api-test.maps", headers=as_user(alice)).get_json()["user_id"] == alice
    assert error_of(api.get(ADMIN + "/custom/api-test.units", headers=SERVICE)) == (404, "SETTING_NOT_FOUND")
    assert api.delete(ADMIN + "/custom/api-test.units" + scoped, headers=SERVICE).status_code == 204
    assert api.delete(ADMIN + "/custom/secret/api-test.maps" + scoped, headers=SERVICE).status_code == 204
    # An admin JWT is an admin too.
    admin_jwt = {"Authorization": f"Bearer {_admin_token()}"}
    assert api.get(ADMIN + "/custom/api-test.tiers", headers=admin_jwt).status_code == 200
    # No decrypting endpoint: the value never leaves the server.
    assert api.get(f"{ADMIN}/user/{alice}/secret/api-test.maps/decrypt", headers=SERVICE).status_code == 404
    assert api.delete(ADMIN + "/custom/secret/api-test.stripe", headers=SERVICE).status_code == 204


def _admin_token() -> str:
    import time

    import jwt
    return jwt.encode({"role": "admin", "sub": str(uuid.uuid4()), "exp": int(time.time()) + 600}, TEST_SECRET,
                      algorithm="HS256")


@pytest.mark.parametrize("method, path, body, field", [
    ("put", USER + "/user/.bad", {"value": 1}, "key"),
    ("put", USER + "/user/api-test.k", {"value": None}, "value"),
    ("put", USER + "/user/api-test.k", {}, "value"),
    ("put", USER + "/user/api-test.k", {"value": 1, "is_secret": True}, "is_secret"),
    ("put", USER + "/user/api-test.k", {"value": 1, "description": 5}, "description"),
    ("put", USER + "/user/api-test.k", {"value": "x" * 70_000}, "value"),
    ("post", USER + "/secret/", {"value": CANARY}, "key"),
    ("post", USER + "/secret/", {"key": "api-test.k", "value": "abc"}, "value"),
    ("post", USER + "/secret/", {"key": "api-test.k", "value": 12345}, "value"),
    ("post", USER + "/secret/", {"key": "api-test.k", "value": CANARY + "\r\nX-Evil: 1"}, "value"),
    ("post", USER + "/batch", {"keys": []}, "keys"),
    ("post", USER + "/batch", {"keys": ["ok", "no way"]}, "key"),
    ("post", ADMIN + "/custom", {"key": "api-test.k", "value": 1, "is_secret": True}, "is_secret"),
    ("post", ADMIN + "/custom", {"key": "api-test.k", "value": 1, "is_public": True}, "is_public"),
    ("post", ADMIN + "/custom", {"key": "api-test.k", "value": 1, "value_type": "date"}, "value_type"),
    ("post", ADMIN + "/custom", {"key": "api-test.k", "value": 1, "editable_by": ["x"]}, "editable_by"),
    ("post", ADMIN + "/custom?user_id=alice", {"key": "api-test.k", "value": 1}, "user_id"),
    ("get", ADMIN + "/custom?user=1", None, "user"),
])
def test_what_a_client_sends_wrong_is_a_400_naming_the_field(api, alice, method, path, body, field):
    headers = SERVICE if path.startswith(ADMIN) else as_user(alice)
    response = getattr(api, method)(path, headers=headers, json=body)
    assert error_of(response) == (400, "INVALID_REQUEST") and response.get_json()["field"] == field, \
        response.get_json()


def test_a_body_that_is_not_a_json_object_is_a_400(api, alice):
    for data in (b"", b"[1]", b"{", b'"x"'):
        response = api.put(USER + "/user/api-test.k", headers=as_user(alice), data=data,
                           content_type="application/json")
        assert error_of(response) == (400, "INVALID_REQUEST")
