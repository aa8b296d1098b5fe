"""The providers admin API through the Flask test client on a real database: the shapes Fluxbase's
SDK (`admin-ai.ts`, `AIProvider` in `types.ts`) reads, validation, the one default, the key at rest."""
from __future__ import annotations

import threading

import pytest

from tests.conftest import TEST_SERVICE_KEY

ROOT = "/api/v1/admin/ai/providers"
# As the SDK's createClient sends the service key: both headers.
SDK = {"apikey": TEST_SERVICE_KEY, "X-Service-Key": TEST_SERVICE_KEY}
CANARY = "sk-canary-3f9a1c7e5b2d4a6f8e0c"
PROVIDER_KEYS = {"id", "name", "display_name", "provider_type", "is_default", "enabled", "use_for_embeddings",
                 "embedding_model", "config", "from_config", "read_only", "created_at", "updated_at"}


@pytest.fixture
def client(app, owner_conn):
    # Providers are global: a test's providers must not answer other tests' turns.
    owner_conn.execute("delete from ai.providers")
    yield app.test_client()
    owner_conn.execute("delete from ai.providers")


def azure(name="azure-eu", **extra):
    return {"name": name, "display_name": "Azure EU", "provider_type": "azure",
            "config": {"api_key": CANARY, "endpoint": "https://eu.openai.azure.com", "deployment_name": "gpt4o"},
            **extra}


def ollama(name="local"):
    return {"name": name, "provider_type": "ollama", "config": {"model": "llama3.2", "endpoint": "http://127.0.0.1:9"}}


def create(client, body):
    response = client.post(ROOT, headers=SDK, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listed(client):
    response = client.get(ROOT, headers=SDK)
    assert response.status_code == 200
    return response.get_json()


def test_the_environment_provider_is_listed_read_only_and_default_until_one_is_added(client):
    body = listed(client)
    assert body["count"] == len(body["providers"]) == 1
    env = body["providers"][0]
    assert set(env) == PROVIDER_KEYS
    assert (env["id"], env["name"], env["from_config"], env["read_only"], env["is_default"]) == \
           ("FROM_CONFIG", "config", True, True, True)
    assert env["config"]["api_key"] == "***" and "test-llm-key" not in str(body)
    for method, path in (("put", "/FROM_CONFIG"), ("delete", "/FROM_CONFIG"), ("put", "/FROM_CONFIG/default")):
        response = getattr(client, method)(ROOT + path, headers=SDK, json={})
        assert response.status_code == 403 and "read-only" in response.get_json()["error"]
    created = create(client, ollama())
    assert created["is_default"] is True  # the first provider becomes the default
    env_after = [p for p in listed(client)["providers"] if p["id"] == "FROM_CONFIG"][0]
    assert env_after["is_default"] is False


def test_a_provider_round_trips_with_its_key_masked_and_sealed_at_rest(client, owner_conn):
    created = create(client, azure())
    assert set(created) == PROVIDER_KEYS
    assert created["config"] == {"api_key": "***", "endpoint": "https://eu.openai.azure.com",
                                 "deployment_name": "gpt4o", "api_version": "2024-02-15-preview"}
    assert (created["provider_type"], created["enabled"], created["from_config"]) == ("azure", True, False)
    raw = owner_conn.execute("select row_to_json(p)::text from ai.providers p where id = %s",
                             (created["id"],)).fetchone()[0]
    assert CANARY not in raw and "v1." in raw
    for response in (client.get(f"{ROOT}/{created['id']}", headers=SDK), client.get(ROOT, headers=SDK)):
        assert response.status_code == 200 and CANARY not in response.get_data(as_text=True)


def test_an_update_merges_the_config_and_keeps_the_key_when_the_mask_comes_back(client, app, owner_conn):
    created = create(client, azure())
    response = client.put(f"{ROOT}/{created['id']}", headers=SDK, json={
        "display_name": "Azure West", "config": {"api_key": "***masked***", "deployment_name": "gpt4o-mini"}})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["display_name"] == "Azure West" and body["config"]["deployment_name"] == "gpt4o-mini"
    from app.providers import admin, repository
    row = repository.get(owner_conn, created["id"])
    config = admin.full_config(owner_conn, repository.key_box(app_settings(app).encryption_key), app_settings(app), row)
    assert config["api_key"] == CANARY and config["endpoint"] == "https://eu.openai.azure.com"
    # Removing a required field by sending null is refused, naming the field.
    response = client.put(f"{ROOT}/{created['id']}", headers=SDK, json={"config": {"endpoint": None}})
    assert response.status_code == 400 and response.get_json()["field"] == "config.endpoint"


def app_settings(app):
    from app.web.context import web_context
    with app.app_context():
        return web_context(app).settings


@pytest.mark.parametrize("body, field", [
    ({"provider_type": "ollama", "config": {"model": "m"}}, "name"),
    ({"name": "Bad Name", "provider_type": "ollama", "config": {"model": "m"}}, "name"),
    ({"name": "config", "provider_type": "ollama", "config": {"model": "m"}}, "name"),
    ({"name": "x", "config": {"model": "m"}}, "provider_type"),
    ({"name": "x", "provider_type": "gemini", "config": {}}, "provider_type"),
    ({"name": "x", "provider_type": "azure", "config": {"api_key": CANARY, "endpoint": "https://e"}},
     "config.deployment_name"),
    ({"name": "x", "provider_type": "ollama", "config": "model=m"}, "config"),
    ({"name": "x", "provider_type": "ollama", "config": {"model": "m"}, "is_default": "yes"}, "is_default"),
    ({"name": "x", "provider_type": "ollama", "config": {"model": "m"}, "api_key": CANARY}, "api_key"),
])
def test_a_bad_body_is_a_400_naming_the_field_and_never_echoing_the_key(client, body, field):
    response = client.post(ROOT, headers=SDK, json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["field"] == field and answer["code"] in ("INVALID_PROVIDER_CONFIG", "INVALID_REQUEST")
    assert CANARY not in response.get_data(as_text=True)
    assert listed(client)["count"] == 1  # nothing was stored


def test_names_are_unique(client):
    create(client, ollama("dup"))
    response = client.post(ROOT, headers=SDK, json=ollama("dup"))
    assert response.status_code == 409 and response.get_json()["code"] == "PROVIDER_EXISTS"


def test_unknown_or_malformed_ids_are_404(client):
    for ref in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "%00", "x" * 300):
        assert client.get(f"{ROOT}/{ref}", headers=SDK).status_code == 404
        assert client.delete(f"{ROOT}/{ref}", headers=SDK).status_code == 404


def test_set_default_moves_it_and_deleting_the_default_promotes_another(client):
    first, second = create(client, ollama("one")), create(client, ollama("two"))
    assert (first["is_default"], second["is_default"]) == (True, False)
    response = client.put(f"{ROOT}/{second['id']}/default", headers=SDK, json={})
    assert response.status_code == 200 and response.get_json()["is_default"] is True
    defaults = [p["name"] for p in listed(client)["providers"] if p["is_default"]]
    assert defaults == ["two"]
    response = client.delete(f"{ROOT}/{second['id']}", headers=SDK)
    assert response.status_code == 200 and response.get_json() == {"deleted": True, "id": second["id"]}
    assert [p["name"] for p in listed(client)["providers"] if p["is_default"]] == ["one"]


def test_a_disabled_provider_cannot_be_made_default(client):
    create(client, ollama("one"))
    other = create(client, ollama("two"))
    assert client.put(f"{ROOT}/{other['id']}", headers=SDK, json={"enabled": False}).status_code == 200
    response = client.put(f"{ROOT}/{other['id']}/default", headers=SDK)
    assert response.status_code == 400 and response.get_json()["field"] == "enabled"


def test_exactly_one_default_under_concurrent_requests(client, app, owner_conn):
    ids = [create(client, ollama(f"p{i}"))["id"] for i in range(6)]
    barrier = threading.Barrier(len(ids))
    statuses = []

    def make_default(provider_id):
        local = app.test_client()
        barrier.wait()
        statuses.append(local.put(f"{ROOT}/{provider_id}/default", headers=SDK).status_code)

    threads = [threading.Thread(target=make_default, args=(i,)) for i in ids for _ in range(2)]
    barrier = threading.Barrier(len(threads))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * len(threads)
    assert owner_conn.execute("select count(*) from ai.providers where is_default").fetchone()[0] == 1


def test_the_index_refuses_a_second_default_even_from_a_writer_that_skips_the_lock(client, owner_conn):
    import psycopg
    create(client, ollama("one"))
    other = create(client, ollama("two"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        owner_conn.execute("update ai.providers set is_default = true where id = %s", (other["id"],))


def test_the_embedding_provider_is_set_and_cleared(client):
    create(client, ollama("one"))
    other = create(client, ollama("two"))
    response = client.put(f"{ROOT}/{other['id']}/embedding", headers=SDK, json={})
    assert response.status_code == 200 and response.get_json()["use_for_embeddings"] is True
    assert [p["name"] for p in listed(client)["providers"] if p["use_for_embeddings"]] == ["two"]
    response = client.delete(f"{ROOT}/{other['id']}/embedding", headers=SDK)
    assert response.status_code == 200 and response.get_json()["use_for_embeddings"] is False


def test_admins_only(client):
    assert client.get(ROOT).status_code == 401
    from tests.app.web.test_chatbots_api import bearer, user_token
    assert client.get(ROOT, headers=bearer(user_token())).status_code == 403
    assert client.post(ROOT, headers=bearer(user_token()), json=ollama()).status_code == 403


def test_the_connection_test_reports_latency_or_the_exact_failure(client, llm):
    good = create(client, {"name": "good", "provider_type": "openai",
                           "config": {"api_key": "test-llm-key", "base_url": llm.base_url, "model": "m"}})
    llm.reply_text("ok", chunks=1)
    response = client.post(f"{ROOT}/{good['id']}/test", headers=SDK)
    body = response.get_json()
    assert response.status_code == 200 and body["success"] is True and body["latency_ms"] >= 0
    assert body["reply"] == "ok" and llm.last_request().body["max_tokens"] == 5
    bad = create(client, {"name": "bad", "provider_type": "openai",
                          "config": {"api_key": "wrong-key", "base_url": llm.base_url, "model": "m"}})
    body = client.post(f"{ROOT}/{bad['id']}/test", headers=SDK).get_json()
    assert (body["success"], body["code"]) == (False, "PROVIDER_AUTH_FAILED") and "wrong-key" not in str(body)
    down = create(client, ollama("down"))  # port 9: nothing listens
    body = client.post(f"{ROOT}/{down['id']}/test", headers=SDK).get_json()
    assert (body["success"], body["code"]) == (False, "PROVIDER_ERROR") and "connection" in body["error"]


def test_a_key_that_no_longer_opens_is_a_clear_400_until_it_is_sent_again(client, owner_conn):
    from app.providers.repository import key_box
    created = create(client, azure())
    foreign = key_box("another-encryption-key-0123456789-abcdef").seal(CANARY, created["id"])
    owner_conn.execute("update ai.providers set api_key_sealed = %s where id = %s", (foreign, created["id"]))
    url = f"{ROOT}/{created['id']}"
    assert client.put(url, headers=SDK, json={"display_name": "Renamed"}).status_code == 200
    response = client.put(url, headers=SDK, json={"config": {"deployment_name": "other"}})
    assert response.status_code == 400 and response.get_json()["field"] == "config.api_key"
    assert "send the key again" in response.get_json()["error"]
    assert client.post(f"{url}/test", headers=SDK).status_code == 400
    response = client.put(url, headers=SDK, json={"config": {"api_key": "sk-new-key", "deployment_name": "other"}})
    assert response.status_code == 200 and response.get_json()["config"]["deployment_name"] == "other"


def test_ids_in_any_uuid_form_reach_the_provider_and_names_never_look_like_ids(client):
    created = create(client, ollama("formed"))
    raw = created["id"]
    for ref in (f"urn:uuid:{raw}", "{" + raw + "}", raw.upper(), raw.replace("-", "")):
        response = client.get(f"{ROOT}/{ref}", headers=SDK)
        assert response.status_code == 200 and response.get_json()["id"] == raw
    for name in (raw, "11111111222243338444555555555555"):
        response = client.post(ROOT, headers=SDK, json=ollama(name))
        assert response.status_code == 400 and response.get_json()["field"] == "name"


def test_create_refuses_the_mask_as_a_key_and_a_disabled_default(client):
    body = azure()
    body["config"]["api_key"] = "***"
    response = client.post(ROOT, headers=SDK, json=body)
    assert response.status_code == 400 and response.get_json()["field"] == "config.api_key"
    create(client, ollama("enabled-one"))
    response = client.post(ROOT, headers=SDK, json={**ollama("off"), "is_default": True, "enabled": False})
    assert response.status_code == 400 and response.get_json()["field"] == "enabled"
    assert [p["name"] for p in listed(client)["providers"] if p["is_default"]] == ["enabled-one"]


def test_concurrent_edits_of_one_provider_all_apply(client, app):
    created = create(client, {"name": "edited", "provider_type": "openai",
                              "config": {"api_key": "k", "base_url": "http://127.0.0.1:9/v1", "model": "m0"}})
    url = f"{ROOT}/{created['id']}"
    edits = [{"config": {"model": "m-new"}}, {"config": {"organization_id": "org-new"}},
             {"display_name": "Name new"}, {"config": {"api_key": "k-new"}}]
    barrier = threading.Barrier(len(edits))
    statuses = []

    def edit(body):
        local = app.test_client()
        barrier.wait()
        statuses.append(local.put(url, headers=SDK, json=body).status_code)

    threads = [threading.Thread(target=edit, args=(body,)) for body in edits]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * len(edits)
    final = client.get(url, headers=SDK).get_json()
    assert (final["config"]["model"], final["config"]["organization_id"], final["display_name"]) == \
           ("m-new", "org-new", "Name new")
    settings = app_settings(app)
    import psycopg

    from app.providers import admin, repository
    with psycopg.connect(settings.database_url) as conn:
        row = repository.get(conn, created["id"])
        assert admin.full_config(conn, repository.key_box(settings.encryption_key), settings, row)["api_key"] == "k-new"


def test_an_edit_racing_a_delete_is_a_404(client, owner_conn, database):
    import psycopg
    created = create(client, ollama("doomed"))
    with psycopg.connect(database.database_url) as deleter:
        deleter.execute("delete from ai.providers where id = %s", (created["id"],))  # not committed yet
        outcome = {}

        def edit():
            outcome["response"] = client.put(f"{ROOT}/{created['id']}", headers=SDK, json={"enabled": False})

        thread = threading.Thread(target=edit)
        thread.start()
        from tests.support.processes import wait_until
        wait_until(lambda: owner_conn.execute(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock'").fetchone()[0] > 0,
            10, "the edit to wait for the row")
        deleter.commit()
        thread.join(10)
    assert outcome["response"].status_code == 404


def test_a_padded_mask_is_still_the_mask(client, app, owner_conn):
    body = azure("padded")
    body["config"]["api_key"] = " ***masked*** "
    assert client.post(ROOT, headers=SDK, json=body).status_code == 400
    created = create(client, azure("padded"))
    assert client.put(f"{ROOT}/{created['id']}", headers=SDK, json={"config": {"api_key": "\t*** "}}).status_code == 200
    settings = app_settings(app)
    from app.providers import admin, repository
    row = repository.get(owner_conn, created["id"])
    assert admin.full_config(owner_conn, repository.key_box(settings.encryption_key), settings, row)["api_key"] == CANARY


@pytest.mark.parametrize("pasted", ["c46bfb049d91e2ab2e79797c6cc46489", "sk_live_4f9a1c7e5b2d"])
def test_a_key_pasted_as_a_field_name_is_not_repeated(client, pasted):
    response = client.post(ROOT, headers=SDK, json={**ollama("named"), "config": {"model": "m", pasted: "v"}})
    assert response.status_code == 400 and pasted not in response.get_data(as_text=True)


def test_an_unknown_field_is_refused_on_update_whatever_its_value(client):
    created = create(client, azure("typo"))
    for value in ("", None, "x"):
        response = client.put(f"{ROOT}/{created['id']}", headers=SDK, json={"config": {"deploymnt_name": value}})
        assert response.status_code == 400 and response.get_json()["field"] == "config.deploymnt_name"


def test_a_provider_added_disabled_is_not_the_default_until_it_is_enabled(client):
    first = create(client, {**ollama("sleeper"), "enabled": False})
    assert first["is_default"] is False
    enabled = client.put(f"{ROOT}/{first['id']}", headers=SDK, json={"enabled": True}).get_json()
    assert enabled["is_default"] is True  # enabled with no default anywhere: it becomes the default
    other = create(client, {**ollama("other"), "enabled": False})
    client.put(f"{ROOT}/{other['id']}", headers=SDK, json={"enabled": True})
    assert [p["name"] for p in listed(client)["providers"] if p["is_default"]] == ["sleeper"]
    # Deleting the default with only disabled providers left leaves no default rather than a disabled one.
    client.put(f"{ROOT}/{other['id']}", headers=SDK, json={"enabled": False})
    client.delete(f"{ROOT}/{first['id']}", headers=SDK)
    assert [p for p in listed(client)["providers"] if p["is_default"] and p["id"] != "FROM_CONFIG"] == []
