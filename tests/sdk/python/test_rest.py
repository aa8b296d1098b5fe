"""REST through the SDK: results are the server's JSON, refusals are typed exceptions."""
from __future__ import annotations

import pytest
from fluxbase_sdk import (
    AuthError,
    ConflictError,
    ConnectionError,
    Error,
    FluxbaseError,
    InvalidRequestError,
    LimitError,
    NotFoundError,
    create_client,
)

from tests.conftest import TEST_CHATBOT, token_for
from tests.support.processes import free_port

NAMESPACE = "sdk-python"


def test_list_and_look_up_chatbots_with_the_anon_key(client):
    names = {(bot["namespace"], bot["name"]) for bot in client.ai.list_chatbots()}
    assert ("tests", "shop") in names
    bot = client.ai.lookup_chatbot("shop")
    assert (bot["name"], bot["namespace"]) == ("shop", "tests")
    assert client.ai.get_chatbot(bot["id"])["name"] == "shop"
    with pytest.raises(NotFoundError) as missing:
        client.ai.lookup_chatbot("no-such-bot")
    assert (missing.value.status, missing.value.code) == (404, "CHATBOT_NOT_FOUND")
    with pytest.raises(NotFoundError):
        client.ai.get_chatbot("../admin/ai/chatbots")  # one path segment, whatever the id says


def test_bad_credentials_and_missing_roles_are_auth_errors(web, client):
    with pytest.raises(AuthError) as invalid:
        create_client(web, "not-a-key").ai.list_chatbots()
    assert (invalid.value.status, invalid.value.code) == (401, "AUTH_INVALID")
    with pytest.raises(AuthError) as forbidden:
        client.admin.ai.list_chatbots()
    assert (forbidden.value.status, forbidden.value.code) == (403, "FORBIDDEN")
    user = create_client(web, token_for(None, "anon"), token=token_for("a11ce000-0000-4000-8000-000000000001"))
    with pytest.raises(AuthError):
        user.admin.ai.list_providers()


def test_an_unreachable_server_is_a_connection_error():
    with pytest.raises(ConnectionError) as down:
        create_client(f"http://127.0.0.1:{free_port()}", "key").ai.list_chatbots()
    assert down.value.code == "CONNECTION_FAILED"
    with pytest.raises(FluxbaseError):
        create_client("localhost:8080", "key")


def test_admin_chatbots_sync_get_toggle_and_delete(admin, client):
    code = TEST_CHATBOT.format(anon="false", max_turns=50, language="auto")
    report = admin.sync(namespace=NAMESPACE, chatbots=[{"name": "sdk-bot", "code": code}])
    assert report["summary"]["errors"] == 0 and report["namespace"] == NAMESPACE
    assert admin.sync(namespace=NAMESPACE, chatbots=[{"name": "sdk-bot", "code": code}],
                      dry_run=True)["dry_run"] is True
    [bot] = admin.list_chatbots(NAMESPACE)
    assert bot["name"] == "sdk-bot" and bot["config"]["allowed_operations"] == ["SELECT"]
    assert admin.get_chatbot(bot["id"])["id"] == bot["id"]
    assert admin.toggle_chatbot(bot["id"], False)["enabled"] is False
    assert (NAMESPACE, "sdk-bot") not in {(b["namespace"], b["name"]) for b in client.ai.list_chatbots()}
    assert admin.toggle_chatbot(bot["id"], True)["enabled"] is True
    assert admin.update_chatbot(bot["id"], config={"max_turns": 3})["config"]["max_turns"] == 3
    with pytest.raises(InvalidRequestError) as bad:
        admin.update_chatbot(bot["id"], config={"max_turns": "many"})
    assert bad.value.code == "INVALID_CONFIG"
    admin.delete_chatbot(bot["id"])
    with pytest.raises(NotFoundError):
        admin.get_chatbot(bot["id"])
    assert admin.list_chatbots(NAMESPACE) == []


def test_admin_providers_create_set_default_and_delete(admin):
    before = admin.list_providers()
    config = {"model": "llama3.2", "endpoint": "http://127.0.0.1:9"}
    first = admin.create_provider(name="sdk-local", provider_type="ollama", display_name="SDK local", config=config)
    second = admin.create_provider(name="sdk-other", provider_type="ollama", config=config)
    try:
        assert (first["name"], first["provider_type"], second["is_default"]) == ("sdk-local", "ollama", False)
        with pytest.raises(ConflictError) as taken:
            admin.create_provider(name="sdk-local", provider_type="ollama", config=config)
        assert taken.value.code == "PROVIDER_EXISTS"
        with pytest.raises(InvalidRequestError) as invalid:
            admin.create_provider(name="sdk-bad", provider_type="ollama", config={"endpoint": "ftp://x"})
        assert invalid.value.code == "INVALID_PROVIDER_CONFIG" and invalid.value.details.get("field")
        assert admin.set_default_provider(second["id"])["is_default"] is True
        assert [p["name"] for p in admin.list_providers() if p["is_default"]] == ["sdk-other"]
        assert admin.get_provider(first["id"])["display_name"] == "SDK local"
    finally:
        admin.delete_provider(second["id"])
        admin.delete_provider(first["id"])
    with pytest.raises(NotFoundError) as gone:
        admin.get_provider(first["id"])
    assert gone.value.code == "PROVIDER_NOT_FOUND"
    assert {p["id"] for p in admin.list_providers()} == {p["id"] for p in before}


def test_admin_audit_shows_the_sql_as_run_and_laid_out(admin, open_chat, llm):
    chat = open_chat()
    cid = chat.start_chat("shop", "tests")
    sql = "select id, total from orders where total > 10 order by id"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "big orders"}}])
    llm.reply_text("Done.")
    turn = chat.ask(cid, "big orders", timeout=20)
    turn.wait()
    assert turn.query_results[0].query == sql  # the exact statement, unformatted
    [entry] = admin.audit(conversation_id=cid)["entries"]
    assert entry["sql"] == sql
    assert entry["sql_pretty"].splitlines()[:3] == ["SELECT id,", "       total", "FROM orders"]
    assert admin.usage(chatbot="shop", namespace="tests")["totals"]["requests"] >= 1
    assert cid in [c["id"] for c in admin.list_conversations(limit=200)["conversations"]]
    assert admin.get_messages(cid)["total"] >= 2


def test_a_rate_limit_reaches_the_caller_with_retry_after(admin, open_chat, llm):
    code = TEST_CHATBOT.format(anon="false", max_turns=50, language="auto").replace("rate-limit 600", "rate-limit 1")
    assert admin.sync(namespace=NAMESPACE, chatbots=[{"name": "sdk-limited", "code": code}])["summary"]["errors"] == 0
    errors = []
    chat = open_chat(on_error=lambda error, code, cid, event: errors.append(event))
    cid = chat.start_chat("sdk-limited", NAMESPACE)
    llm.reply_text("Only one a minute.")
    assert chat.ask(cid, "one", timeout=20).wait().type == "done"
    refusal = chat.ask(cid, "two", timeout=20).wait()
    assert isinstance(refusal, Error) and refusal.code == "RATE_LIMIT_EXCEEDED"
    assert refusal.retry_after and refusal.retry_after > 0
    assert errors == [refusal]
    from fluxbase_sdk.errors import error_for_event
    raised = error_for_event(refusal.raw)
    assert isinstance(raised, LimitError) and raised.retry_after == refusal.retry_after
    for bot in admin.list_chatbots(NAMESPACE):
        admin.delete_chatbot(bot["id"])


def test_the_quickstart_example_runs_against_the_server(web, anon_key, base_env, llm):
    import subprocess
    import sys

    from tests.support.processes import ROOT

    sql = "SELECT c.name, count(o.id) AS orders FROM customers c JOIN orders o ON o.user_id = c.user_id " \
          "GROUP BY c.name ORDER BY orders DESC LIMIT 10"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "top users"}}])
    llm.reply_text("Alice leads.")
    env = {**base_env, "FLUXBASE_URL": web, "ANON_KEY": anon_key,
           "TOKEN": token_for("a11ce000-0000-4000-8000-000000000001")}
    run = subprocess.run([sys.executable, str(ROOT / "sdk/python/examples/quickstart.py")], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sql-assistant" in run.stdout.splitlines()[0]
    assert f"Query: {sql}" in run.stdout and "Rows: " in run.stdout
    assert "[thinking]" in run.stdout and "Alice leads." in run.stdout and "Tokens used: " in run.stdout
