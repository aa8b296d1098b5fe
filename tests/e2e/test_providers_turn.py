"""Providers added through the admin API answer chat turns: each type on its wire format, the
chatbot's choice of provider and model, changes applied from the next turn with no restart."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for
from tests.support.chat_client import ChatClient
from tests.support.llm_server import ScriptedLLM

ROOT = "/api/v1/admin/ai/providers"


def call(web: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(web + path, method=method, data=json.dumps(body or {}).encode(),
                                     headers={"apikey": TEST_SERVICE_KEY, "X-Service-Key": TEST_SERVICE_KEY,
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def providers(web, owner_conn):
    owner_conn.execute("delete from ai.providers")

    def add(body: dict) -> dict:
        status, created = call(web, "POST", ROOT, body)
        assert status == 201, created
        return created

    yield add
    owner_conn.execute("delete from ai.providers")


def one_turn(web: str, chatbot: str = "shop", namespace: str = "tests") -> list[dict]:
    client = ChatClient(web, token_for(ALICE))
    try:
        started = client.start_chat(chatbot, namespace=namespace)
        assert started["type"] == "chat_started", started
        return client.ask(started["conversation_id"], "How many customers are there?")
    finally:
        client.close()


def test_an_azure_provider_made_default_answers_the_next_turn(web, test_chatbots, llm, providers):
    providers({"name": "azure-eu", "provider_type": "azure", "is_default": True,
               "config": {"api_key": "test-llm-key", "endpoint": llm.azure_endpoint, "deployment_name": "chat-eu"}})
    llm.reply_text("Azure says hello.", usage=(41, 4))
    events = one_turn(web)
    done = events[-1]
    assert done["type"] == "done", done
    assert "".join(e["delta"] for e in events if e["type"] == "content") == "Azure says hello."
    assert done["usage"] == {"prompt_tokens": 41, "completion_tokens": 4, "total_tokens": 45}
    request = llm.last_request()
    assert request.path == "/openai/deployments/chat-eu/chat/completions"
    assert request.api_version == "2024-02-15-preview" and request.headers["api-key"] == "test-llm-key"


def test_an_ollama_provider_answers_with_its_model_and_its_own_counts(web, test_chatbots, providers):
    with ScriptedLLM() as ollama:
        status, created = call(web, "POST", ROOT, {"name": "local", "provider_type": "ollama",
                                                  "config": {"endpoint": ollama.azure_endpoint, "model": "llama3.2"}})
        assert status == 201, created
        status, _ = call(web, "PUT", f"{ROOT}/{created['id']}/default")
        assert status == 200
        ollama.reply_text("Local answer.", usage=(12, 3))
        done = one_turn(web)[-1]
        assert done["type"] == "done", done
        assert done["usage"]["prompt_tokens"] == 12 and done["usage"]["completion_tokens"] == 3
        request = ollama.last_request()
        assert (request.path, request.body["model"]) == ("/v1/chat/completions", "llama3.2")
        ollama.assert_complete()


def test_the_chatbot_names_its_provider_and_model_and_changes_apply_from_the_next_turn(
        web, test_chatbots, llm, providers, database):
    from app.chatbots.sync_service import sync_payload

    namespace = f"p-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Picky\n * @fluxbase:description Picks its provider\n * @fluxbase:provider second\n * @fluxbase:model special-model\n"
            " * @fluxbase:max-tokens 321\n * @fluxbase:temperature 0.2\n */\nexport default `Be brief.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "picky", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors
    providers({"name": "first", "provider_type": "openai",
               "config": {"api_key": "test-llm-key", "base_url": llm.base_url, "model": "first-model"}})
    second = providers({"name": "second", "provider_type": "openai",
                        "config": {"api_key": "test-llm-key", "base_url": llm.base_url, "model": "second-model",
                                   "organization_id": "org-second"}})
    llm.reply_text("one")
    assert one_turn(web, "picky", namespace)[-1]["type"] == "done"
    request = llm.last_request()
    assert request.headers.get("openai-organization") == "org-second"
    assert (request.body["model"], request.body["max_tokens"], request.body["temperature"]) == \
           ("special-model", 321, 0.2)

    # Disabled: the default (`first`) answers instead, from the very next turn.
    assert call(web, "PUT", f"{ROOT}/{second['id']}", {"enabled": False})[0] == 200
    llm.reply_text("two")
    assert one_turn(web, "picky", namespace)[-1]["type"] == "done"
    assert "openai-organization" not in llm.last_request().headers

    # Edited and enabled again: the worker builds a new client for the new version.
    assert call(web, "PUT", f"{ROOT}/{second['id']}",
                {"enabled": True, "config": {"organization_id": "org-edited"}})[0] == 200
    llm.reply_text("three")
    assert one_turn(web, "picky", namespace)[-1]["type"] == "done"
    assert llm.last_request().headers.get("openai-organization") == "org-edited"


def test_a_provider_whose_key_is_refused_ends_the_turn_with_provider_auth_failed(web, test_chatbots, llm, providers):
    providers({"name": "wrong", "provider_type": "openai", "is_default": True,
               "config": {"api_key": "sk-wrong-key-123", "base_url": llm.base_url}})
    ending = one_turn(web)[-1]
    assert (ending["type"], ending["code"], ending["error"]) == \
           ("error", "PROVIDER_AUTH_FAILED", "Provider authentication failed")
    assert "sk-wrong-key-123" not in json.dumps(ending)


def test_with_no_provider_at_all_the_turn_says_how_to_add_one(base_env, database, workdir):
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "no-provider", env={"OPENAI_API_KEY": ""}) as running:
        ending = one_turn(running.web)[-1]
    assert (ending["type"], ending["code"]) == ("error", "NO_PROVIDER")
    assert ending["error"].startswith("No AI provider configured")
    assert "OPENAI_API_KEY" in ending["error"] and "fluxbase providers add" in ending["error"]


def test_a_providers_key_is_in_no_log_even_at_debug(base_env, database, workdir, llm, owner_conn):
    from tests.support.stack import isolated_stack

    canary = "sk-log-canary-5e1f0c93aa"
    owner_conn.execute("delete from ai.providers")
    try:
        with isolated_stack(base_env, workdir, "key-logs", env={"LOG_LEVEL": "DEBUG"}) as running:
            good = {"name": "azure-log", "provider_type": "azure", "is_default": True,
                    "config": {"api_key": canary, "endpoint": llm.azure_endpoint, "deployment_name": "d"}}
            status, created = call(running.web, "POST", ROOT, good)
            assert status == 201 and canary not in json.dumps(created)
            # The scripted server refuses this key: the refusal path must not log it either.
            ending = one_turn(running.web)[-1]
            assert ending["code"] == "PROVIDER_AUTH_FAILED"
            status, _ = call(running.web, "PUT", f"{ROOT}/{created['id']}", {"config": {"api_key": "x" + canary}})
            assert status == 200
            assert call(running.web, "POST", f"{ROOT}/{created['id']}/test")[1]["success"] is False
            logs = running.worker.log_text() + (running.root / "web.log").read_text(errors="replace")
        assert "DEBUG" in logs  # the level took effect
        assert canary not in logs
    finally:
        owner_conn.execute("delete from ai.providers")


def test_a_stored_key_that_no_longer_opens_ends_the_turn_with_provider_error(web, test_chatbots, llm, providers,
                                                                           owner_conn):
    from app.providers.repository import key_box

    created = providers({"name": "sealed", "provider_type": "azure", "is_default": True,
                         "config": {"api_key": "test-llm-key", "endpoint": llm.azure_endpoint, "deployment_name": "d"}})
    foreign = key_box("another-encryption-key-0123456789-abcdef").seal("test-llm-key", created["id"])
    owner_conn.execute("update ai.providers set api_key_sealed = %s where id = %s", (foreign, created["id"]))
    ending = one_turn(web)[-1]
    assert (ending["type"], ending["code"]) == ("error", "PROVIDER_ERROR")
    assert "ENCRYPTION_KEY" in ending["error"] and "sealed" in ending["error"]

