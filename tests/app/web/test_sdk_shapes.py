"""Fluxbase's own TypeScript SDK against our REST surface: one test per thing the SDK relies on.

Each test names the SDK function (nimbleflux/fluxbase sdk/src/ai.ts, admin-ai.ts, client.ts, types.ts)
and asserts the exact fields it reads. Headers are the ones the SDK sends: `createClient(url, key)`
puts the key in both `apikey` and `Authorization: Bearer`.
"""
from __future__ import annotations

import uuid

import pytest

from app.auth.tokens import mint, service_key_matches
from app.factory import close_app, create_app
from tests.conftest import TEST_SECRET, TEST_SERVICE_KEY
from tests.support.chat_client import ChatClient

USER_ID = "a11ce000-0000-4000-8000-000000000001"
ADMIN = "/api/v1/admin/ai/chatbots"
PUBLIC = "/api/v1/ai/chatbots"
# types.ts AIChatbotSummary, less the allowed_* lists Fluxbase's server does not send publicly either.
SUMMARY_KEYS = {"id", "name", "namespace", "description", "enabled", "is_public", "source", "version", "created_at",
                "updated_at"}
# types.ts AIChatbot: what admin-ai.ts getChatbot() hands its caller, on top of the summary.
AICHATBOT_KEYS = SUMMARY_KEYS | {"allowed_tables", "allowed_operations", "allowed_schemas", "code", "max_tokens",
                                 "temperature", "persist_conversations", "conversation_ttl_hours",
                                 "max_conversation_turns", "rate_limit_per_minute", "daily_request_limit",
                                 "daily_token_budget", "allow_unauthenticated"}
SYNC_RESULT_KEYS = {"message", "namespace", "summary", "details", "errors", "dry_run"}  # types.ts SyncChatbotsResult


def sdk_headers(key: str) -> dict[str, str]:
    """What FluxbaseClient's constructor (client.ts) sets on every request."""
    return {"apikey": key, "Authorization": f"Bearer {key}"}


SERVICE = sdk_headers(TEST_SERVICE_KEY)


def anon_key() -> str:
    return mint(TEST_SECRET, role="anon")


def user_token() -> str:
    return mint(TEST_SECRET, role="authenticated", user_id=USER_ID)


def bot(*annotations: str, description: str | None = "An SDK test bot") -> str:
    lines = [f" * @fluxbase:description {description}"] if description else []
    lines += [f" * @fluxbase:{a}" for a in annotations]
    return "/**\n * SDK Bot\n *\n" + "\n".join(lines) + "\n */\nexport default `You help with SDK tests.`;\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sync(client, namespace: str, chatbots: list[dict], **options) -> dict:
    # The body admin-ai.ts sync() posts: namespace, chatbots, options with both flags spelled out.
    response = client.post(f"{ADMIN}/sync", headers=SERVICE, json={
        "namespace": namespace, "chatbots": chatbots,
        "options": {"delete_missing": options.get("delete_missing", False), "dry_run": options.get("dry_run", False)}})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def admin_objects(client, namespace: str) -> dict[str, dict]:
    body = client.get(f"{ADMIN}?namespace={namespace}", headers=SERVICE).get_json()
    return {item["name"]: item for item in body["chatbots"]}


def delete_all(client, namespace: str, names) -> None:
    objects = admin_objects(client, namespace)
    for name in names:
        assert client.delete(f"{ADMIN}/{objects[name]['id']}", headers=SERVICE).status_code == 204


@pytest.fixture
def visibility(client):
    """A namespace with a chatbot of every kind of visibility; returns (namespace, name -> admin object)."""
    namespace = unique("sdk")
    report = sync(client, namespace, [
        {"name": "open", "code": bot("allow-unauthenticated true")},
        {"name": "members", "code": bot()},
        {"name": "unlisted", "code": bot("public false")},
        {"name": "off", "code": bot()},
    ])
    assert report["summary"]["created"] == 4, report
    objects = admin_objects(client, namespace)
    assert client.put(f"{ADMIN}/{objects['off']['id']}/toggle", headers=SERVICE,
                      json={"enabled": False}).status_code == 200
    return namespace, admin_objects(client, namespace)


def assert_json_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["code"] == code and isinstance(body["error"], str) and body["error"], body
    return body


# -- 1. createClient(url, serviceKey): every admin call is admin --------------------------------


def test_a_client_created_with_the_service_key_is_admin(client, visibility):
    # client.ts: `apikey: key` and `Authorization: Bearer key`; admin-ai.ts listChatbots/getChatbot/toggle/delete.
    namespace, objects = visibility
    target = objects["members"]
    listed = client.get(f"{ADMIN}?namespace={namespace}", headers=SERVICE)
    assert listed.status_code == 200 and listed.get_json()["count"] == 4
    assert client.get(f"{ADMIN}/{target['id']}", headers=SERVICE).get_json()["id"] == target["id"]
    assert client.put(f"{ADMIN}/{target['id']}/toggle", headers=SERVICE, json={"enabled": True}).status_code == 200
    # The bearer value alone is enough (the SDK after setAuthToken(null) keeps only Authorization).
    alone = {"Authorization": f"Bearer {TEST_SERVICE_KEY}"}
    assert client.get(f"{ADMIN}/{target['id']}", headers=alone).status_code == 200
    # Not a prefix, a longer key or another key: a wrong bearer value is still refused (and is not a JWT).
    for wrong in (TEST_SERVICE_KEY[:-1], TEST_SERVICE_KEY + "x", "x" * len(TEST_SERVICE_KEY)):
        assert_json_error(client.get(ADMIN, headers=sdk_headers(wrong)), 401, "AUTH_INVALID")
        # The bearer value is what counts: a right apikey next to a wrong bearer value does not make it admin.
        mixed = {"apikey": TEST_SERVICE_KEY, "Authorization": f"Bearer {wrong}"}
        assert_json_error(client.get(ADMIN, headers=mixed), 401, "AUTH_INVALID")
    # The anon key the same way round is a valid caller, but not an admin.
    assert_json_error(client.get(ADMIN, headers=sdk_headers(anon_key())), 403, "FORBIDDEN")
    assert client.delete(f"{ADMIN}/{target['id']}", headers=SERVICE).status_code == 204


def test_service_key_comparison_is_exact():
    assert service_key_matches(TEST_SERVICE_KEY, TEST_SERVICE_KEY)
    for wrong in ("", TEST_SERVICE_KEY[:-1], TEST_SERVICE_KEY + "x", TEST_SERVICE_KEY.upper(), "\udcff"):
        assert not service_key_matches(TEST_SERVICE_KEY, wrong), wrong


# -- 2. createClient(url, anonKey).ai.listChatbots() ---------------------------------------------


def test_the_anon_key_lists_every_public_enabled_chatbot_and_the_socket_still_decides_use(client, visibility, web):
    # ai.ts listChatbots(): GET /api/v1/ai/chatbots -> response.chatbots (AIChatbotSummary[]).
    namespace, objects = visibility
    response = client.get(PUBLIC, headers=sdk_headers(anon_key()))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"chatbots", "count"} and body["count"] == len(body["chatbots"])
    mine = {item["name"]: item for item in body["chatbots"] if item["namespace"] == namespace}
    assert sorted(mine) == ["members", "open"]  # not the unlisted one, not the disabled one
    assert all(set(item) == SUMMARY_KEYS for item in mine.values())
    assert mine["members"]["id"] == objects["members"]["id"] and mine["members"]["is_public"] is True

    # Listing is not permission: anonymous use is still refused where the file does not allow it.
    for token in (None, anon_key()):
        chat = ChatClient(web, token)
        try:
            refused = chat.start_chat("members", namespace=namespace)
            assert refused["type"] == "error" and refused["code"] == "AUTH_REQUIRED", refused
            assert chat.start_chat("open", namespace=namespace)["type"] == "chat_started"
        finally:
            chat.close()


# -- 3. chat.startChat(name) without a namespace: GET /by-name/<name> ---------------------------


def test_lookup_by_name_resolves_like_fluxbase_and_the_resolved_namespace_starts_a_chat(client, web):
    # ai.ts lookupChatbot(name) -> AIChatbotLookupResponse; FluxbaseAIChat.startChat reads data.chatbot.namespace.
    user = sdk_headers(user_token())
    only, several, ambiguous, hidden = (unique("sdk-name") for _ in range(4))
    first, second = sorted([unique("sdk"), unique("sdk")])

    # One public, enabled match, outside `default`: that one.
    sync(client, second, [{"name": only, "code": bot()}])
    found = client.get(f"{PUBLIC}/by-name/{only}", headers=user)
    assert found.status_code == 200
    body = found.get_json()
    item = admin_objects(client, second)[only]
    assert body == {"chatbot": {key: item[key] for key in SUMMARY_KEYS}, "ambiguous": False}
    chat = ChatClient(web, user_token())
    try:
        started = chat.start_chat(only, namespace=body["chatbot"]["namespace"])
        assert started["type"] == "chat_started" and started["chatbot"] == only, started
    finally:
        chat.close()

    # Several, one of them in `default`: the default one, not ambiguous.
    sync(client, first, [{"name": several, "code": bot()}])
    sync(client, "default", [{"name": several, "code": bot()}])
    try:
        body = client.get(f"{PUBLIC}/by-name/{several}", headers=user).get_json()
        assert body["ambiguous"] is False and body["chatbot"]["namespace"] == "default"
        assert body["chatbot"]["id"] == admin_objects(client, "default")[several]["id"]
    finally:
        delete_all(client, "default", [several])

    # Several, none in `default`: 409 with every namespace, and an error the SDK can show.
    sync(client, first, [{"name": ambiguous, "code": bot()}])
    sync(client, second, [{"name": ambiguous, "code": bot()}])
    response = client.get(f"{PUBLIC}/by-name/{ambiguous}", headers=user)
    error = assert_json_error(response, 409, "AMBIGUOUS_CHATBOT")
    assert error["ambiguous"] is True and error["namespaces"] == [first, second] and "chatbot" not in error
    assert first in error["error"] and second in error["error"]

    # None: 404 {ambiguous: false, error: "Chatbot not found"}; an unlisted chatbot does not count.
    sync(client, first, [{"name": hidden, "code": bot("public false")}])
    for name in (unique("sdk-none"), hidden):
        error = assert_json_error(client.get(f"{PUBLIC}/by-name/{name}", headers=user), 404, "CHATBOT_NOT_FOUND")
        assert error == {"ambiguous": False, "error": "Chatbot not found", "code": "CHATBOT_NOT_FOUND"}


# -- 4. ai.getChatbot(id) --------------------------------------------------------------------------


def test_get_chatbot_by_id_returns_the_public_summary_and_json_404s(client, visibility):
    # ai.ts getChatbot(id): GET /api/v1/ai/chatbots/<id> -> AIChatbotSummary.
    namespace, objects = visibility
    anon = sdk_headers(anon_key())
    for name in ("open", "members"):
        response = client.get(f"{PUBLIC}/{objects[name]['id']}", headers=anon)
        assert response.status_code == 200
        assert response.get_json() == {key: objects[name][key] for key in SUMMARY_KEYS}
    assert "system_prompt" not in response.get_json() and "code" not in response.get_json()
    # Unlisted, disabled, unknown and malformed ids: all a JSON 404, never a 500.
    for chatbot_id in (objects["unlisted"]["id"], objects["off"]["id"], str(uuid.uuid4()), "not-a-uuid",
                       "1%20OR%201=1", "%00", "x" * 5000, objects["open"]["id"] + "0"):
        error = assert_json_error(client.get(f"{PUBLIC}/{chatbot_id}", headers=anon), 404, "CHATBOT_NOT_FOUND")
        assert error["error"] == "Chatbot not found"
    assert_json_error(client.get(f"{PUBLIC}/{objects['open']['id']}", headers=sdk_headers("garbage")), 401,
                      "AUTH_INVALID")


# -- 5. admin.ai.getChatbot(id) / listChatbots(): the AIChatbot fields at the top level -----------


def test_the_admin_object_carries_the_fields_the_sdk_reads(client):
    # admin-ai.ts getChatbot(id) -> AIChatbot; listChatbots() -> AIChatbotSummary[] (the same objects).
    namespace = unique("sdk")
    code = bot("allowed-tables orders, products", "allowed-operations SELECT, INSERT", "allowed-schemas public",
               "max-tokens 1000", "temperature 0.2", "persist-conversations true", "conversation-ttl 2d",
               "max-turns 7", "rate-limit 20/min", "daily-limit 300/day", "token-budget 100k",
               "allow-unauthenticated true")
    sync(client, namespace, [{"name": "full", "code": code}])
    listed = admin_objects(client, namespace)["full"]
    item = client.get(f"{ADMIN}/{listed['id']}", headers=SERVICE).get_json()
    assert item == listed and AICHATBOT_KEYS <= set(item)
    assert {key: item[key] for key in AICHATBOT_KEYS - SUMMARY_KEYS} == {
        "allowed_tables": ["orders", "products"], "allowed_operations": ["SELECT", "INSERT"],
        "allowed_schemas": ["public"], "code": code, "max_tokens": 1000, "temperature": 0.2,
        "persist_conversations": True, "conversation_ttl_hours": 48, "max_conversation_turns": 7,
        "rate_limit_per_minute": 20, "daily_request_limit": 300, "daily_token_budget": 100000,
        "allow_unauthenticated": True,
    }
    # `config` is kept as it was; the top-level fields are copies of it.
    assert item["config"]["max_turns"] == 7 and item["config"]["allowed_tables"] == ["orders", "products"]
    assert (item["is_public"], item["version"], item["source"], item["description"]) == (True, 1, "api",
                                                                                        "An SDK test bot")
    assert item["created_at"].endswith("Z") and item["updated_at"].endswith("Z")
    # An admin edit moves both.
    edited = client.put(f"{ADMIN}/{item['id']}", headers=SERVICE, json={"config": {"max_turns": 9}}).get_json()
    assert edited["max_conversation_turns"] == 9 and edited["config"]["max_turns"] == 9


def test_the_admin_object_returns_the_code_exactly_as_synced_through_the_api(client):
    # AIChatbot.code (types.ts) is `string`: the text the chatbot was last synced from, byte for byte.
    namespace = unique("sdk")
    code = "\ufeff" + bot("max-tokens 500").replace("\n", "\r\n") + "// Gr\u00fc\u00dfe \U0001f44b\t \n\n"
    spec_entry = {"name": "with-spec", "code": bot(description=None), "description": "From the spec",
                  "original_code": "// not this", "temperature": 0.4}
    sync(client, namespace, [{"name": "pushed", "code": code}, spec_entry])
    objects = admin_objects(client, namespace)
    assert objects["pushed"]["code"] == code and objects["pushed"]["source"] == "api"
    assert client.get(f"{ADMIN}/{objects['pushed']['id']}", headers=SERVICE).get_json()["code"] == code
    # The code sent, not `original_code`, and not the spec values merged into it.
    assert objects["with-spec"]["code"] == spec_entry["code"]
    assert objects["with-spec"]["description"] == "From the spec" and objects["with-spec"]["temperature"] == 0.4

    # An admin config edit changes the config, not the code; a new sync replaces it.
    edited = client.put(f"{ADMIN}/{objects['pushed']['id']}", headers=SERVICE, json={"config": {"max_tokens": 700}})
    assert edited.get_json()["code"] == code and edited.get_json()["max_tokens"] == 700
    newer = bot("max-tokens 900")
    assert sync(client, namespace, [{"name": "pushed", "code": newer}])["details"]["updated"] == ["pushed"]
    assert admin_objects(client, namespace)["pushed"]["code"] == newer
    # Only a spec value changing is an update too, and the code stays what was sent.
    assert sync(client, namespace, [{**spec_entry, "temperature": 0.6}])["details"]["updated"] == ["with-spec"]
    assert admin_objects(client, namespace)["with-spec"]["code"] == spec_entry["code"]


def test_the_admin_object_keeps_the_code_of_a_file_as_synced_when_the_file_changes(database, tmp_path):
    namespace = unique("sdk")
    folder = tmp_path / namespace / "on-disk"
    folder.mkdir(parents=True)
    source = bot("max-tokens 500")
    (folder / "index.ts").write_text(source)
    app = create_app(database.replace(chatbots_dir=tmp_path))
    try:
        client = app.test_client()
        response = client.post(f"{ADMIN}/sync", headers=SERVICE, json={"namespace": namespace})
        assert response.get_json()["details"]["created"] == ["on-disk"]
        item = admin_objects(client, namespace)["on-disk"]
        assert item["code"] == source and item["source"] == "filesystem"
        # Edited on disk, not synced: the code shown is still the one that runs, as its config is.
        edited = bot("max-tokens 600")
        (folder / "index.ts").write_text(edited)
        item = admin_objects(client, namespace)["on-disk"]
        assert (item["code"], item["max_tokens"]) == (source, 500)
        # Gone from disk: the same.
        (folder / "index.ts").unlink()
        assert admin_objects(client, namespace)["on-disk"]["code"] == source
        # Synced again: the new text.
        (folder / "index.ts").write_text(edited)
        response = client.post(f"{ADMIN}/sync", headers=SERVICE, json={"namespace": namespace})
        assert response.get_json()["details"]["updated"] == ["on-disk"]
        item = admin_objects(client, namespace)["on-disk"]
        assert (item["code"], item["max_tokens"], item["version"]) == (edited, 600, 2)
    finally:
        close_app(app)


def test_the_public_summary_never_carries_the_code(client):
    # ai.ts listChatbots / getChatbot / lookupChatbot: AIChatbotSummary has no code, and anyone may call them.
    namespace, name = unique("sdk"), unique("sdk-code")
    code = bot() + "// internal notes: " + "x" * 40 + "\n"
    sync(client, namespace, [{"name": name, "code": code}])
    chatbot_id = admin_objects(client, namespace)[name]["id"]
    anon = sdk_headers(anon_key())
    listed = [item for item in client.get(PUBLIC, headers=anon).get_json()["chatbots"] if item["id"] == chatbot_id]
    by_id = client.get(f"{PUBLIC}/{chatbot_id}", headers=anon).get_json()
    by_name = client.get(f"{PUBLIC}/by-name/{name}", headers=anon).get_json()["chatbot"]
    assert len(listed) == 1
    for summary in (listed[0], by_id, by_name):
        assert set(summary) == SUMMARY_KEYS and "code" not in summary
        assert "internal notes" not in str(summary)


# -- 6. admin.ai.sync({chatbots: [ChatbotSpec...]}) ------------------------------------------------


def test_sync_accepts_the_sdk_chatbot_spec_and_answers_a_sync_chatbots_result(client):
    # admin-ai.ts sync(options) posts ChatbotSpec entries and reads SyncChatbotsResult.
    namespace = unique("sdk")
    spec = {
        "name": "spec-bot",
        "code": bot("max-tokens 1000", description=None),  # no description in the code: the spec's is used
        "description": "Described by the spec", "original_code": "// before bundling", "is_pre_bundled": False,
        "enabled": False, "allowed_tables": ["orders"], "allowed_operations": ["SELECT"],
        "allowed_schemas": ["public"], "max_tokens": 2000, "temperature": 0.3, "persist_conversations": True,
        "conversation_ttl_hours": 12, "max_conversation_turns": 5, "rate_limit_per_minute": "20/min",
        "daily_request_limit": 50, "daily_token_budget": 9000, "allow_unauthenticated": False, "is_public": False,
    }
    report = sync(client, namespace, [spec])
    assert SYNC_RESULT_KEYS <= set(report) and set(report) - SYNC_RESULT_KEYS == {"warnings"}
    assert report["message"] == "Sync completed: 1 created, 0 updated, 0 deleted, 0 unchanged, 0 errors"
    assert report["namespace"] == namespace and report["dry_run"] is False and report["errors"] == []
    assert report["summary"] == {"created": 1, "updated": 0, "deleted": 0, "unchanged": 0, "errors": 0}
    assert report["details"] == {"created": ["spec-bot"], "updated": [], "deleted": [], "unchanged": []}

    item = admin_objects(client, namespace)["spec-bot"]
    assert item["max_tokens"] == 1000  # the code's annotation wins over the spec's 2000
    assert (item["description"], item["is_public"], item["temperature"], item["allowed_tables"]) == (
        "Described by the spec", False, 0.3, ["orders"])  # the spec fills in what the code does not say
    assert (item["rate_limit_per_minute"], item["max_conversation_turns"], item["conversation_ttl_hours"]) == (20, 5, 12)
    assert item["enabled"] is True  # `enabled` is ignored: a sync never changes it
    assert item["id"] not in {c["id"] for c in client.get(PUBLIC, headers=SERVICE).get_json()["chatbots"]}

    again = sync(client, namespace, [spec])
    assert again["details"]["unchanged"] == ["spec-bot"]
    # A spec value alone changing is an update, and a dry run says so in its message.
    preview = sync(client, namespace, [{**spec, "temperature": 0.9}], dry_run=True)
    assert preview["details"]["updated"] == ["spec-bot"] and preview["dry_run"] is True
    assert preview["message"].startswith("Dry run - no changes made")
    assert admin_objects(client, namespace)["spec-bot"]["temperature"] == 0.3
    done = sync(client, namespace, [{**spec, "temperature": 0.9}])
    assert done["details"]["updated"] == ["spec-bot"]
    after = admin_objects(client, namespace)["spec-bot"]
    assert after["temperature"] == 0.9 and after["version"] == 2


@pytest.mark.parametrize("extra,status,code,key", [
    ({"max_tokens": "abc"}, 400, "INVALID_CONFIG", "max_tokens"),
    ({"temperature": 5}, 400, "INVALID_CONFIG", "temperature"),
    ({"allowed_operations": ["SELECT", "DROP"]}, 400, "INVALID_CONFIG", "allowed_operations"),
    ({"max_conversation_turns": 0}, 400, "INVALID_CONFIG", "max_conversation_turns"),
    ({"is_public": "maybe"}, 400, "INVALID_CONFIG", "is_public"),
    ({"description": ""}, 400, "INVALID_CONFIG", "description"),
    ({"description": 7}, 400, "INVALID_CONFIG", "description"),
    ({"enabled": "yes"}, 400, "INVALID_REQUEST", None),
    ({"original_code": 1}, 400, "INVALID_REQUEST", None),
    ({"bundle": True}, 400, "INVALID_REQUEST", None),
])
def test_sync_refuses_invalid_spec_values_naming_the_field_and_writes_nothing(client, extra, status, code, key):
    namespace = unique("sdk")
    body = {"namespace": namespace, "chatbots": [{"name": "good", "code": bot()},
                                                 {"name": "bad", "code": bot(), **extra}]}
    error = assert_json_error(client.post(f"{ADMIN}/sync", headers=SERVICE, json=body), status, code)
    if key is not None:
        assert error["key"] == key and error["error"].startswith(f"chatbots[1].{key}: "), error
        assert error["chatbot"] == "bad"
    else:
        assert next(iter(extra)) in error["error"]
    assert admin_objects(client, namespace) == {}


def test_the_python_door_reports_an_invalid_spec_value_per_chatbot(database):
    # sync_payload (CLI, tests) gets no 400: a bad spec value is that chatbot's error, the others still sync.
    from app.chatbots.sync_service import sync_payload

    namespace = unique("sdk")
    report = sync_payload(database, namespace=namespace, chatbots=[
        {"name": "good", "code": bot(), "temperature": "0.4"},
        {"name": "bad", "code": bot(), "max_tokens": "abc"},
    ])
    assert report.created == ("good",)
    assert report.to_dict()["errors"] == [
        {"name": "bad", "error": "bad: max_tokens: expected a positive whole number (got 'abc')"}]


@pytest.mark.parametrize("raw_description", ['"a\\ud800b"', '"a\\u0000b"'])
def test_a_spec_description_that_cannot_be_stored_is_a_400_naming_it(client, raw_description):
    namespace = unique("desc")
    body = ('{"namespace": "%s", "chatbots": [{"name": "bad", "code": "export default `x`;", "description": %s}]}'
            % (namespace, raw_description))
    response = client.post(f"{ADMIN}/sync", headers={**SERVICE, "Content-Type": "application/json"}, data=body)
    assert response.status_code == 400, response.get_json()
    assert "description" in response.get_json()["error"]
    assert client.get(f"{ADMIN}?namespace={namespace}", headers=SERVICE).get_json()["count"] == 0
