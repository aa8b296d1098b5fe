"""An admin pins a conversation to a provider (PATCH /api/v1/admin/ai/conversations/<id>): its turns
are then answered there, whatever the chatbot names; a pin that no longer resolves ends the turn with
PROVIDER_NOT_FOUND instead of falling back; end users cannot set it."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for
from tests.support.chat_client import ChatClient
from tests.support.extra_provider import extra_provider
from tests.support.llm_server import ScriptedLLM

ADMIN = "/api/v1/admin/ai/conversations"
USER = "/api/v1/ai/conversations"
SERVICE = {"X-Service-Key": TEST_SERVICE_KEY}


def call(web: str, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(web + path, method=method, data=data,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def pin(web: str, conversation_id: str, provider, headers: dict | None = None) -> tuple[int, dict]:
    return call(web, "PATCH", f"{ADMIN}/{conversation_id}", {"provider": provider},
                SERVICE if headers is None else headers)


def stored_pin(owner_conn, conversation_id: str):
    return owner_conn.execute("select provider_name from ai.conversations where id = %s",
                              (conversation_id,)).fetchone()[0]


@pytest.fixture
def conversation(web, test_chatbots):
    """A chat socket of alice's and a conversation opened on it with the `shop` chatbot."""
    client = ChatClient(web, token_for(ALICE))
    started = client.start_chat("shop", namespace="tests")
    assert started["type"] == "chat_started", started
    try:
        yield client, started["conversation_id"]
    finally:
        client.close()


@pytest.fixture
def second_llm():
    with ScriptedLLM() as server:
        yield server
        server.assert_complete()


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "content")


def test_the_service_key_pins_by_name_or_id_and_null_removes_the_pin(web, conversation, owner_conn):
    _, conversation_id = conversation
    with extra_provider(owner_conn, "http://127.0.0.1:9") as (provider_id, name):
        status, body = pin(web, conversation_id, name)
        assert status == 200, body
        assert (body["id"], body["provider"]) == (conversation_id, name)
        assert stored_pin(owner_conn, conversation_id) == name
        listed = call(web, "GET", f"{ADMIN}?user_id={ALICE}&limit=1000", b"", SERVICE)[1]["conversations"]
        assert {c["id"]: c["provider"] for c in listed}[conversation_id] == name
        status, body = pin(web, conversation_id, None)
        assert status == 200 and body["provider"] is None, body
        assert stored_pin(owner_conn, conversation_id) is None
        # By id too; what is stored is the name (a provider's name never changes).
        status, body = pin(web, conversation_id, provider_id)
        assert status == 200 and body["provider"] == name, body
        # The provider from OPENAI_* is `config`.
        status, body = pin(web, conversation_id, "config")
        assert status == 200 and body["provider"] == "config", body
        # An admin JWT may too.
        admin_jwt = {"Authorization": f"Bearer {token_for(None, 'service_role')}"}
        status, body = pin(web, conversation_id, None, admin_jwt)
        assert status == 200 and body["provider"] is None, body


def test_only_admins_pin_and_users_cannot_set_the_provider(web, conversation, owner_conn):
    _, conversation_id = conversation
    user = {"Authorization": f"Bearer {token_for(ALICE)}"}
    status, body = pin(web, conversation_id, "config", user)
    assert (status, body["code"]) == (403, "FORBIDDEN"), body
    status, body = pin(web, conversation_id, "config", {})
    assert (status, body["code"]) == (401, "AUTH_REQUIRED"), body
    # The owner's own PATCH takes a title only.
    status, body = call(web, "PATCH", f"{USER}/{conversation_id}", {"provider": "config"}, user)
    assert (status, body["code"], body.get("field")) == (400, "INVALID_REQUEST", "provider"), body
    status, body = call(web, "PATCH", f"{USER}/{conversation_id}", {"title": "t", "provider": "config"}, user)
    assert (status, body["code"]) == (400, "INVALID_REQUEST"), body
    assert stored_pin(owner_conn, conversation_id) is None


@pytest.mark.parametrize("body, status, code", [
    ({"provider": "no-such-provider"}, 404, "PROVIDER_NOT_FOUND"),
    ({"provider": "8c0ffee0-0000-4000-8000-000000000000"}, 404, "PROVIDER_NOT_FOUND"),
    ({"provider": 7}, 400, "INVALID_REQUEST"),
    ({"provider": ""}, 400, "INVALID_REQUEST"),
    ({"provider": "config", "title": "x"}, 400, "INVALID_REQUEST"),
    ({}, 400, "INVALID_REQUEST"),
    (b"[1]", 400, "INVALID_REQUEST"),
])
def test_bad_pins_are_refused_with_a_clear_code(web, conversation, owner_conn, body, status, code):
    _, conversation_id = conversation
    answer_status, answer = call(web, "PATCH", f"{ADMIN}/{conversation_id}", body, SERVICE)
    assert (answer_status, answer["code"]) == (status, code), answer
    if isinstance(body, dict) and "provider" in body and len(body) == 1:
        assert answer["field"] == "provider"
    assert stored_pin(owner_conn, conversation_id) is None


def test_a_disabled_provider_or_an_unknown_conversation_is_refused(web, conversation, owner_conn):
    _, conversation_id = conversation
    with extra_provider(owner_conn, "http://127.0.0.1:9") as (provider_id, name):
        owner_conn.execute("update ai.providers set enabled = false where id = %s", (provider_id,))
        status, body = pin(web, conversation_id, name)
        assert (status, body["code"], body["field"]) == (400, "INVALID_REQUEST", "provider"), body
        assert "disabled" in body["error"]
    for other in ("8c0ffee0-0000-4000-8000-000000000000", "not-a-uuid"):
        status, body = pin(web, other, "config")
        assert (status, body["code"]) == (404, "CONVERSATION_NOT_FOUND"), body


def test_a_pinned_conversation_is_answered_by_its_provider_until_the_pin_is_removed(
        web, conversation, owner_conn, llm, second_llm):
    client, conversation_id = conversation
    with extra_provider(owner_conn, second_llm.azure_endpoint, model="pinned-model") as (_, name):
        assert pin(web, conversation_id, name)[0] == 200
        second_llm.reply_text("The pinned provider answers.", usage=(21, 5))
        events = client.ask(conversation_id, "Who answers?")
        assert events[-1]["type"] == "done", events[-1]
        assert text_of(events) == "The pinned provider answers."
        assert events[-1]["usage"]["prompt_tokens"] == 21
        request = second_llm.last_request()
        assert (request.path, request.body["model"]) == ("/v1/chat/completions", "pinned-model")
        assert llm.chat_requests() == []

        # Without the pin the chatbot's own choice (here the provider from OPENAI_*) answers again.
        assert pin(web, conversation_id, None)[0] == 200
        llm.reply_text("The usual provider answers.")
        events = client.ask(conversation_id, "And now?")
        assert events[-1]["type"] == "done" and text_of(events) == "The usual provider answers.", events[-1]


@pytest.mark.parametrize("how", ["deleted", "disabled"])
def test_a_pin_to_a_provider_gone_since_ends_the_turn_with_provider_not_found(
        web, conversation, owner_conn, llm, how):
    client, conversation_id = conversation
    with extra_provider(owner_conn, "http://127.0.0.1:9") as (provider_id, name):
        assert pin(web, conversation_id, name)[0] == 200
        if how == "deleted":
            owner_conn.execute("delete from ai.providers where id = %s", (provider_id,))
        else:
            owner_conn.execute("update ai.providers set enabled = false where id = %s", (provider_id,))
        ending = client.ask(conversation_id, "Anyone there?")[-1]
    # Nothing is scripted on the usual provider: a silent fallback would fail the autouse check too.
    assert (ending["type"], ending["code"]) == ("error", "PROVIDER_NOT_FOUND"), ending
    assert name in ending["error"] and ("no longer exists" if how == "deleted" else "is disabled") in ending["error"]
    status = owner_conn.execute("select status, error_code from ai.turns where conversation_id = %s",
                                (conversation_id,)).fetchone()
    assert tuple(status) == ("error", "PROVIDER_NOT_FOUND")
