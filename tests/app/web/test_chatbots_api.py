"""REST endpoints for chatbots (PROTOCOL.md section 5) through the Flask test client on a real database."""
from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest

from app.auth.tokens import mint
from app.chatbots import CONFIG_KEYS
from app.factory import close_app, create_app
from tests.conftest import TEST_SECRET, TEST_SERVICE_KEY

USER_ID = "a11ce000-0000-4000-8000-000000000001"
ADMIN_KEYS = {"id", "name", "namespace", "description", "title", "enabled", "is_public", "source", "version",
              "content_hash", "created_at", "updated_at", "system_prompt", "tools", "config"}
EXTRA_ADMIN_KEYS = {"effective_config", "config_overrides", "warnings"}  # documented in docs/chatbots.md
# Top-level fields Fluxbase's SDK reads (AIChatbot in sdk/src/types.ts), documented in docs/chatbots.md.
SDK_ADMIN_KEYS = {"code", "allowed_tables", "allowed_operations", "allowed_schemas", "max_tokens", "temperature",
                  "persist_conversations", "conversation_ttl_hours", "max_conversation_turns",
                  "rate_limit_per_minute", "daily_request_limit", "daily_token_budget", "allow_unauthenticated"}
PUBLIC_KEYS = {"id", "name", "namespace", "description", "enabled", "is_public", "source", "version", "created_at",
               "updated_at"}

SERVICE = {"X-Service-Key": TEST_SERVICE_KEY}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def user_token() -> str:
    return mint(TEST_SECRET, role="authenticated", user_id=USER_ID)


def anon_key() -> str:
    return mint(TEST_SECRET, role="anon")


def bot(description: str = "A test bot", *annotations: str, tools: str = "") -> str:
    lines = "\n".join(f" * @fluxbase:{a}" for a in annotations)
    return (f"/**\n * API Bot\n *\n * @fluxbase:description {description}\n{lines}\n */\n"
            f"export default `You help with tests.`;\n{tools}")


def new_namespace() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def sync(client, namespace: str, chatbots: dict[str, str], **options):
    response = client.post("/api/v1/admin/ai/chatbots/sync", headers=SERVICE, json={
        "namespace": namespace, "chatbots": [{"name": n, "code": c} for n, c in chatbots.items()],
        "options": options})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def admin_list(client, namespace: str) -> dict[str, dict]:
    body = client.get(f"/api/v1/admin/ai/chatbots?namespace={namespace}", headers=SERVICE).get_json()
    return {item["name"]: item for item in body["chatbots"]}


@pytest.fixture
def bots(client):
    """One namespace with a chatbot of every visibility, plus a map name -> admin object."""
    namespace = new_namespace()
    report = sync(client, namespace, {
        "open": bot("anyone", "allow-unauthenticated true"),
        "members": bot("members only"),
        "unlisted": bot("not listed", "public false"),
        "off": bot("disabled"),
    })
    assert report["summary"]["created"] == 4 and not report["errors"]
    objects = admin_list(client, namespace)
    toggled = client.put(f"/api/v1/admin/ai/chatbots/{objects['off']['id']}/toggle", headers=SERVICE,
                         json={"enabled": False})
    assert toggled.status_code == 200 and toggled.get_json()["enabled"] is False
    return namespace, admin_list(client, namespace)


def assert_error(response, status: int, code: str):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"], body
    return body


# -- credentials on the admin endpoints --------------------------------------------------------


def admin_calls(chatbot_id: str):
    base = "/api/v1/admin/ai/chatbots"
    return [
        ("get", base, None),
        ("get", f"{base}/{chatbot_id}", None),
        ("put", f"{base}/{chatbot_id}", {"enabled": True}),
        ("put", f"{base}/{chatbot_id}/toggle", {"enabled": True}),
        ("post", f"{base}/sync", {"namespace": new_namespace(), "chatbots": [{"name": "x", "code": bot()}]}),
        ("delete", f"{base}/{chatbot_id}", None),
    ]


@pytest.mark.parametrize("headers,status,code", [
    ({}, 401, "AUTH_REQUIRED"),
    ({"apikey": "ANON"}, 403, "FORBIDDEN"),
    ({"Authorization": "Bearer USER"}, 403, "FORBIDDEN"),
    ({"Authorization": "Bearer not.a.jwt"}, 401, "AUTH_INVALID"),
    ({"Authorization": "Bearer WRONG_SECRET"}, 401, "AUTH_INVALID"),
    ({"X-Service-Key": "wrong-service-key-0123456789-abcdefghijklmnop"}, 401, "AUTH_INVALID"),
    ({"apikey": "wrong-service-key"}, 401, "AUTH_INVALID"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "AUTH_INVALID"),
], ids=["none", "anon-key", "user-jwt", "garbage-jwt", "foreign-jwt", "bad-service-key", "bad-apikey", "basic"])
def test_admin_endpoints_refuse_non_admins_and_change_nothing(client, bots, headers, status, code):
    namespace, objects = bots
    substitutes = {"ANON": anon_key(), "USER": user_token(),
                   "WRONG_SECRET": mint("another-secret-0123456789-abcdefghijklmnop", role="service_role")}
    headers = {k: " ".join(substitutes.get(part, part) for part in v.split(" ")) for k, v in headers.items()}
    target = objects["members"]
    for method, url, body in admin_calls(target["id"]):
        response = getattr(client, method)(url, headers=headers, json=body)
        assert_error(response, status, code)
    assert admin_list(client, namespace)["members"] == target


@pytest.mark.parametrize("headers", [
    {"X-Service-Key": TEST_SERVICE_KEY},
    {"apikey": TEST_SERVICE_KEY},
    {"Authorization": f"ServiceKey {TEST_SERVICE_KEY}"},
    {"Authorization": f"Bearer {TEST_SERVICE_KEY}"},
    "service_role",
    "admin_role",
], ids=["x-service-key", "apikey", "servicekey-scheme", "bearer-service-key", "service-role-jwt", "admin-role-jwt"])
def test_admin_endpoints_accept_admins(client, bots, headers):
    if headers == "service_role":
        headers = bearer(mint(TEST_SECRET, role="service_role"))
    elif headers == "admin_role":
        headers = bearer(jwt.encode({"role": "admin", "sub": USER_ID, "exp": int(time.time()) + 60}, TEST_SECRET,
                                    algorithm="HS256"))
    namespace, objects = bots
    target = objects["members"]
    expected = [200, 200, 200, 200, 200, 204]
    for (method, url, body), status in zip(admin_calls(target["id"]), expected):
        response = getattr(client, method)(url, headers=headers, json=body)
        assert response.status_code == status, (method, url, response.get_json())
    assert "members" not in admin_list(client, namespace)


def test_an_admin_claim_on_a_user_token_is_not_admin(client, bots):
    token = mint(TEST_SECRET, role="authenticated", user_id=USER_ID, extra={"admin": True})
    assert client.get("/api/v1/admin/ai/chatbots", headers=bearer(token)).status_code == 403


# -- the admin object ---------------------------------------------------------------------------


def test_admin_object_has_the_protocol_keys_and_every_config_key(client, bots):
    namespace, objects = bots
    item = objects["open"]
    assert set(item) == ADMIN_KEYS | EXTRA_ADMIN_KEYS | SDK_ADMIN_KEYS
    assert list(item["config"]) == list(CONFIG_KEYS) and list(item["effective_config"]) == list(CONFIG_KEYS)
    assert item["config"]["allowed_tables"] == ["*"] and item["config"]["allowed_operations"] == ["SELECT"]
    assert item["config"]["allow_unauthenticated"] is True and item["config"]["model"] is None
    assert item["namespace"] == namespace and item["title"] == "API Bot" and item["source"] == "api"
    assert item["version"] == 1 and len(item["content_hash"]) == 64 and item["config_overrides"] == {}
    assert [tool["name"] for tool in item["tools"]] == ["execute_sql"] and item["warnings"] == []
    assert item["created_at"].endswith("Z") and item["system_prompt"] == "You help with tests."
    got = client.get(f"/api/v1/admin/ai/chatbots/{item['id']}", headers=SERVICE).get_json()
    assert got == item


def test_effective_config_shows_the_server_caps(database, bots):
    namespace, objects = bots
    capped = create_app(database.replace(server_max_tokens=100, server_allow_unauthenticated=False,
                                         server_allowed_operations=frozenset({"INSERT"})))
    try:
        item = capped.test_client().get(f"/api/v1/admin/ai/chatbots/{objects['open']['id']}", headers=SERVICE).get_json()
    finally:
        close_app(capped)
    assert item["config"]["max_tokens"] == 4096 and item["effective_config"]["max_tokens"] == 100
    assert item["effective_config"]["allow_unauthenticated"] is False
    assert item["effective_config"]["allowed_operations"] == []


def test_unknown_and_malformed_ids_are_not_found(client):
    for chatbot_id in (str(uuid.uuid4()), "not-a-uuid", "1%20OR%201=1"):
        for method, body in (("get", None), ("put", {"enabled": True}), ("delete", None)):
            response = getattr(client, method)(f"/api/v1/admin/ai/chatbots/{chatbot_id}", headers=SERVICE, json=body)
            assert_error(response, 404, "CHATBOT_NOT_FOUND")
        response = client.put(f"/api/v1/admin/ai/chatbots/{chatbot_id}/toggle", headers=SERVICE, json={"enabled": True})
        assert_error(response, 404, "CHATBOT_NOT_FOUND")


def test_admin_list_filters_by_namespace(client, bots):
    namespace, objects = bots
    body = client.get(f"/api/v1/admin/ai/chatbots?namespace={namespace}", headers=SERVICE).get_json()
    assert body["count"] == 4 and sorted(i["name"] for i in body["chatbots"]) == ["members", "off", "open", "unlisted"]
    everything = client.get("/api/v1/admin/ai/chatbots", headers=SERVICE).get_json()
    assert everything["count"] >= 4 and {objects["open"]["id"], objects["off"]["id"]} <= {
        i["id"] for i in everything["chatbots"]}
    assert_error(client.get("/api/v1/admin/ai/chatbots?namespace=Not%20Valid", headers=SERVICE), 400, "INVALID_REQUEST")


# -- PUT, toggle, DELETE ----------------------------------------------------------------------


def test_put_config_validates_merges_and_bumps_the_version(client, bots):
    namespace, objects = bots
    target = objects["members"]
    url = f"/api/v1/admin/ai/chatbots/{target['id']}"
    response = client.put(url, headers=SERVICE, json={"config": {"rate_limit_per_minute": "30/min",
                                                                 "allowed_tables": "orders, products"}})
    assert response.status_code == 200, response.get_json()
    item = response.get_json()
    assert item["config"]["rate_limit_per_minute"] == 30 and item["config"]["allowed_tables"] == ["orders", "products"]
    assert item["config_overrides"] == {"rate_limit_per_minute": 30, "allowed_tables": ["orders", "products"]}
    assert item["version"] == 2 and item["updated_at"] >= target["updated_at"]

    same = client.put(url, headers=SERVICE, json={"config": {"rate_limit_per_minute": 30}}).get_json()
    assert same["version"] == 2

    reset = client.put(url, headers=SERVICE, json={"reset_config": True, "config": {"max_turns": 9}}).get_json()
    assert reset["config"]["rate_limit_per_minute"] == 10 and reset["config"]["allowed_tables"] == ["*"]
    assert reset["config_overrides"] == {"max_turns": 9} and reset["version"] == 3


def test_put_of_the_config_as_read_changes_nothing(client, bots):
    namespace, objects = bots
    target = objects["open"]
    response = client.put(f"/api/v1/admin/ai/chatbots/{target['id']}", headers=SERVICE,
                          json={"enabled": target["enabled"], "config": target["config"]})
    assert response.status_code == 200 and response.get_json() == target


@pytest.mark.parametrize("body,status,code,key", [
    ({"config": {"temperature": 3}}, 400, "INVALID_CONFIG", "temperature"),
    ({"config": {"temprature": 0.5}}, 400, "INVALID_CONFIG", "temprature"),
    ({"config": {"allowed_operations": ["SELECT", "DROP"]}}, 400, "INVALID_CONFIG", "allowed_operations"),
    ({"config": {"max_tokens": None}}, 400, "INVALID_CONFIG", "max_tokens"),
    ({"config": {"max_tokens": 10**12}}, 400, "INVALID_CONFIG", "max_tokens"),
    ({"config": {"http_allowed_domains": "https://evil.example/x"}}, 400, "INVALID_CONFIG", "http_allowed_domains"),
    ({"config": {"max_tokens": 10, "rate_limit_per_minute": "lots"}}, 400, "INVALID_CONFIG", "rate_limit_per_minute"),
    ({"config": "max_tokens=10"}, 400, "INVALID_CONFIG", "config"),
    ({"config": {}, "name": "renamed"}, 400, "INVALID_REQUEST", None),
    ({"enabled": "yes"}, 400, "INVALID_REQUEST", None),
    ({"reset_config": 1}, 400, "INVALID_REQUEST", None),
    (["enabled"], 400, "INVALID_REQUEST", None),
    ("not json{", 400, "INVALID_REQUEST", None),
    ("", 400, "INVALID_REQUEST", None),
])
def test_put_rejects_bad_input_and_loses_nothing(client, bots, body, status, code, key):
    namespace, objects = bots
    target = objects["members"]
    url = f"/api/v1/admin/ai/chatbots/{target['id']}"
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    error = assert_error(client.put(url, headers=SERVICE, **kwargs), status, code)
    if key is not None:
        assert error["key"] == key and key in error["error"]
    assert admin_list(client, namespace)["members"] == target


def test_put_refuses_config_that_contradicts_the_files_tools(client):
    namespace = new_namespace()
    tools = 'export const tools = [{ name: "http_get" }];\n'
    sync(client, namespace, {"web": bot("fetches", "http-allowed-domains api.example.com", tools=tools)})
    target = admin_list(client, namespace)["web"]
    response = client.put(f"/api/v1/admin/ai/chatbots/{target['id']}", headers=SERVICE,
                          json={"config": {"http_allowed_domains": []}})
    assert assert_error(response, 400, "INVALID_CONFIG")["key"] == "http_allowed_domains"
    assert admin_list(client, namespace)["web"] == target


def test_put_enabled_and_toggle(client, bots):
    namespace, objects = bots
    url = f"/api/v1/admin/ai/chatbots/{objects['open']['id']}"
    off = client.put(url, headers=SERVICE, json={"enabled": False}).get_json()
    assert off["enabled"] is False and off["version"] == 1
    on = client.put(f"{url}/toggle", headers=SERVICE, json={"enabled": True}).get_json()
    assert on["enabled"] is True
    again = client.put(f"{url}/toggle", headers=SERVICE, json={"enabled": True}).get_json()
    assert again["updated_at"] == on["updated_at"]
    for body in ({}, {"enabled": "false"}, {"enabled": None}, {"enabled": True, "x": 1}, []):
        assert_error(client.put(f"{url}/toggle", headers=SERVICE, json=body), 400, "INVALID_REQUEST")


def test_delete_removes_the_chatbot(client, bots):
    namespace, objects = bots
    url = f"/api/v1/admin/ai/chatbots/{objects['unlisted']['id']}"
    response = client.delete(url, headers=SERVICE)
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(client.get(url, headers=SERVICE), 404, "CHATBOT_NOT_FOUND")
    assert_error(client.delete(url, headers=SERVICE), 404, "CHATBOT_NOT_FOUND")
    assert sorted(admin_list(client, namespace)) == ["members", "off", "open"]


# -- sync over HTTP ------------------------------------------------------------------------------


def test_sync_endpoint_reports_in_the_protocol_shape(client):
    namespace = new_namespace()
    first = sync(client, namespace, {"a": bot(), "b": bot()})
    assert first == {"message": "Sync completed: 2 created, 0 updated, 0 deleted, 0 unchanged, 0 errors",
                     "namespace": namespace,
                     "summary": {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0, "errors": 0},
                     "details": {"created": ["a", "b"], "updated": [], "deleted": [], "unchanged": []},
                     "errors": [], "warnings": [], "dry_run": False}
    preview = sync(client, namespace, {"a": bot("changed"), "c": bot("Bad", "nope 1")}, delete_missing=True,
                   dry_run=True)
    assert preview["dry_run"] is True and preview["details"]["updated"] == ["a"]
    assert preview["details"]["deleted"] == ["b"] and [e["name"] for e in preview["errors"]] == ["c"]
    assert admin_list(client, namespace)["a"]["version"] == 1 and "b" in admin_list(client, namespace)

    done = sync(client, namespace, {"a": bot("changed"), "c": bot("Bad", "nope 1")}, delete_missing=True)
    assert done["summary"] == {"created": 0, "updated": 1, "deleted": 1, "unchanged": 0, "errors": 1}
    assert "unknown annotation" in done["errors"][0]["error"]
    assert sorted(admin_list(client, namespace)) == ["a"] and admin_list(client, namespace)["a"]["version"] == 2


def unavailable(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"


def test_a_chatbot_naming_a_tool_the_server_cannot_run_syncs_with_a_warning(client):
    namespace = new_namespace()
    report = sync(client, namespace, {"orders": bot("orders", "mcp-tools search_knowledge_base"), "plain": bot()})
    assert report["errors"] == [] and report["details"]["created"] == ["orders", "plain"]
    assert report["warnings"] == [{"name": "orders", "warning": unavailable("search_knowledge_base")}]
    objects = admin_list(client, namespace)
    orders = objects["orders"]
    assert orders["tools"] == [] and orders["warnings"] == [unavailable("search_knowledge_base")]
    assert orders["config"]["mcp_tools"] == ["search_knowledge_base"] and objects["plain"]["warnings"] == []
    assert client.get(f"/api/v1/admin/ai/chatbots/{orders['id']}", headers=SERVICE).get_json() == orders

    # The warning is worked out when the chatbot is read: an edit that drops the tool drops it too.
    edited = client.put(f"/api/v1/admin/ai/chatbots/{orders['id']}", headers=SERVICE,
                        json={"config": {"mcp_tools": []}}).get_json()
    assert edited["warnings"] == [] and [tool["name"] for tool in edited["tools"]] == ["execute_sql"]


def test_a_tools_entry_for_http_get_is_offered_with_the_files_wording(client):
    namespace = new_namespace()
    tools = 'export const tools = [{ name: "http_get", description: "Fetch the forecast" }, { name: "execute_sql" }];\n'
    report = sync(client, namespace, {"weather": bot("weather", "http-allowed-domains api.example.com", tools=tools)})
    assert report["errors"] == [] and report["warnings"] == []
    weather = admin_list(client, namespace)["weather"]
    assert [tool["name"] for tool in weather["tools"]] == ["http_get", "execute_sql"]
    assert weather["tools"][0]["description"] == "Fetch the forecast"
    assert weather["tools"][0]["parameters"]["required"] == ["url"]
    assert weather["warnings"] == []


@pytest.mark.parametrize("annotations,tools,fragment", [
    (("mcp-tools query_tabel",), "", "unknown tool 'query_tabel' (did you mean 'query_table'?)"),
    ((), 'export const tools = [{ name: "drop_database" }];\n', "unknown tool 'drop_database'"),
    (("mcp-tools http_get",), "", "no domain is allowed"),
], ids=["mcp-tools-typo", "tools-entry", "http_get-without-domains"])
def test_an_unknown_tool_name_is_still_an_error(client, annotations, tools, fragment):
    namespace = new_namespace()
    report = sync(client, namespace, {"bad": bot("bad", *annotations, tools=tools)})
    assert [error["name"] for error in report["errors"]] == ["bad"] and fragment in report["errors"][0]["error"]
    assert report["warnings"] == [] and admin_list(client, namespace) == {}


def test_sync_keeps_a_disabled_chatbot_disabled(client, bots):
    namespace, objects = bots
    report = sync(client, namespace, {"off": bot("disabled, edited")})
    assert report["details"]["updated"] == ["off"]
    assert admin_list(client, namespace)["off"]["enabled"] is False


@pytest.mark.parametrize("body", [
    {"namespace": "Bad Namespace", "chatbots": [{"name": "a", "code": "x"}]},
    {"namespace": 7},
    {"chatbots": "a"},
    {"chatbots": [["a", "code"]]},
    {"chatbots": [{"name": "a"}]},
    {"chatbots": [{"name": 1, "code": "x"}]},
    {"chatbots": [{"name": "a", "code": "x", "extra": 1}]},
    {"options": {"dry_run": "yes"}},
    {"options": {"reenable": True}},
    {"options": []},
    {"namespace": "x", "force": True},
    [1, 2],
])
def test_sync_rejects_malformed_bodies(client, body):
    assert_error(client.post("/api/v1/admin/ai/chatbots/sync", headers=SERVICE, json=body), 400, "INVALID_REQUEST")


def test_sync_without_chatbots_reads_the_directory(database, tmp_path):
    namespace = new_namespace()
    folder = tmp_path / namespace / "from-disk"
    folder.mkdir(parents=True)
    (folder / "index.ts").write_text(bot())
    app = create_app(database.replace(chatbots_dir=tmp_path))
    try:
        client = app.test_client()
        response = client.post("/api/v1/admin/ai/chatbots/sync", headers=SERVICE,
                               json={"namespace": namespace, "chatbots": []})
        assert response.get_json()["details"]["created"] == ["from-disk"]
        empty_body = client.post("/api/v1/admin/ai/chatbots/sync", headers=SERVICE)
        assert empty_body.status_code == 200 and empty_body.get_json()["details"]["unchanged"] == ["from-disk"]
        assert admin_list(client, namespace)["from-disk"]["source"] == "filesystem"
    finally:
        close_app(app)


# -- user-facing endpoints ---------------------------------------------------------------------


def listed(client, namespace: str, headers) -> list[str]:
    response = client.get("/api/v1/ai/chatbots", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["count"] == len(body["chatbots"])
    items = [item for item in body["chatbots"] if item["namespace"] == namespace]
    assert all(set(item) == PUBLIC_KEYS for item in items)
    return sorted(item["name"] for item in items)


def test_public_list_shows_every_enabled_public_chatbot_to_every_caller(client, bots):
    # `@fluxbase:public` governs the list, whoever asks; allow-unauthenticated only governs use.
    namespace, _ = bots
    for headers in ({}, {"apikey": anon_key()}, bearer(user_token()), SERVICE):
        assert listed(client, namespace, headers) == ["members", "open"], headers
    assert_error(client.get("/api/v1/ai/chatbots", headers=bearer("garbage")), 401, "AUTH_INVALID")


def test_server_forbidding_anonymous_use_does_not_hide_chatbots(database, bots):
    # SERVER_ALLOW_UNAUTHENTICATED narrows use (the socket refuses), not what is listed or found.
    namespace, _ = bots
    strict = create_app(database.replace(server_allow_unauthenticated=False))
    try:
        assert listed(strict.test_client(), namespace, {}) == ["members", "open"]
        by_name = strict.test_client().get(f"/api/v1/ai/chatbots/by-name/open?namespace={namespace}")
        assert by_name.status_code == 200 and by_name.get_json()["chatbot"]["name"] == "open"
    finally:
        close_app(strict)


def test_by_name_finds_enabled_public_chatbots_only(client, bots):
    namespace, objects = bots
    url = "/api/v1/ai/chatbots/by-name/{}?namespace=" + namespace
    user = bearer(user_token())
    found = client.get(url.format("members"), headers=user)
    assert found.status_code == 200 and found.get_json() == {
        "chatbot": {key: objects["members"][key] for key in PUBLIC_KEYS}, "ambiguous": False}
    assert client.get(url.format("members")).status_code == 200  # anonymous callers find it too
    for name, headers in (("unlisted", user), ("off", user), ("off", SERVICE), ("nope", user), ("Bad%20Name", user)):
        response = client.get(url.format(name), headers=headers)
        error = assert_error(response, 404, "CHATBOT_NOT_FOUND")
        assert error == {"error": "Chatbot not found", "code": "CHATBOT_NOT_FOUND", "ambiguous": False}
    assert_error(client.get(url.format("members"), headers=bearer("garbage")), 401, "AUTH_INVALID")


def test_by_name_without_namespace_is_ambiguous_unless_default_has_it(client):
    name = f"amb-{uuid.uuid4().hex[:8]}"
    first, second = sorted([new_namespace(), new_namespace()])
    sync(client, first, {name: bot()})
    sync(client, second, {name: bot()})
    user = bearer(user_token())
    error = assert_error(client.get(f"/api/v1/ai/chatbots/by-name/{name}", headers=user), 409, "AMBIGUOUS_CHATBOT")
    assert error["namespaces"] == [first, second] and error["ambiguous"] is True
    chosen = client.get(f"/api/v1/ai/chatbots/by-name/{name}?namespace={second}", headers=user).get_json()
    assert chosen["chatbot"]["namespace"] == second and chosen["ambiguous"] is False

    sync(client, "default", {name: bot()})
    try:
        found = client.get(f"/api/v1/ai/chatbots/by-name/{name}", headers=user).get_json()
        assert found["chatbot"]["namespace"] == "default" and found["ambiguous"] is False
    finally:
        default_id = admin_list(client, "default")[name]["id"]
        assert client.delete(f"/api/v1/admin/ai/chatbots/{default_id}", headers=SERVICE).status_code == 204

    # With only one of them visible (the other disabled), there is nothing to choose between.
    other = admin_list(client, first)[name]["id"]
    client.put(f"/api/v1/admin/ai/chatbots/{other}/toggle", headers=SERVICE, json={"enabled": False})
    assert client.get(f"/api/v1/ai/chatbots/by-name/{name}", headers=user).get_json()["chatbot"]["namespace"] == second


def test_errors_are_json_everywhere(client):
    for response in (client.get("/api/v1/admin/ai/chatbots/sync", headers=SERVICE),
                     client.patch("/api/v1/admin/ai/chatbots", headers=SERVICE),
                     client.post("/api/v1/ai/chatbots")):
        assert response.is_json and "code" in response.get_json(), response.get_data(as_text=True)
    huge = client.post("/api/v1/admin/ai/chatbots/sync", headers=SERVICE, data=json.dumps({"x": "y" * 9_000_000}),
                       content_type="application/json")
    assert_error(huge, 413, "MESSAGE_TOO_LARGE")


def test_the_web_process_syncs_the_chatbots_directory_at_start(web, workdir):
    """The start-up door, in the real gunicorn process (CHATBOTS_DIR is the repository's chatbots/)."""
    import urllib.request

    request = urllib.request.Request(f"{web}/api/v1/ai/chatbots/by-name/sql-assistant?namespace=default",
                                     headers=bearer(user_token()))
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["chatbot"]["name"] == "sql-assistant"
    log = (workdir / "web.log").read_text(errors="replace")
    assert "chatbot sync from" in log and "0 errors" in log
