"""Secrets the model never sees, end to end: settings set with the CLI and the REST APIs, a prompt that names
them, the scripted model asking http_get for the local test server with placeholders, the real worker filling
them in. The server gets the real values; the model's requests, the client's events, the stored messages and
the worker's and web's logs get none of the canaries, even when the server echoes them back."""
import json
import urllib.request
import uuid

import pytest

from app.protocol import Code
from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for
from tests.support.http_servers import INTERNAL, LocalHttpServer, json_response
from tests.support.processes import fluxbase

RUN = uuid.uuid4().hex[:8]
USER_KEY, SYSTEM_KEY, LEAK_KEY = f"canary-{RUN}.user_key", f"canary-{RUN}.system_key", f"canary-{RUN}.leak_key"
# Unreserved URL characters only: the test reads them back from the request target as they are.
USER_CANARY = f"user-canary-{uuid.uuid4().hex}"
SYSTEM_CANARY = f"system-canary-{uuid.uuid4().hex}"
LEAK_CANARY = f"leak-canary-{uuid.uuid4().hex}"
CANARIES = (USER_CANARY, SYSTEM_CANARY, LEAK_CANARY)


def _rest(web: str, method: str, path: str, body: dict, headers: dict) -> int:
    request = urllib.request.Request(web + path, method=method, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def _chatbot(database, port: int) -> tuple[str, str]:
    from app.chatbots.sync_service import sync_payload

    namespace = f"canary-{RUN}"
    code = ("/**\n * Canary\n * @fluxbase:description Secrets for an allowed API\n"
            f" * @fluxbase:http-allowed-domains 127.0.0.1:{port}\n"
            f" * @fluxbase:required-settings {USER_KEY},{SYSTEM_KEY}\n */\n"
            f"export default `Fetch http://127.0.0.1:{port}/data with the header Authorization: Bearer "
            f"{{{{user:{USER_KEY}}}}} and the query parameter appid={{{{system:{SYSTEM_KEY}}}}}. "
            f"Never mention {{{{{LEAK_KEY}}}}}.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "weather", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors and not report.warnings, (report.errors, report.warnings)
    return namespace, "weather"


@pytest.fixture
def cleanup(owner_conn):
    yield
    owner_conn.execute("delete from app.settings where key like %s", (f"canary-{RUN}.%",))


def _no_canary(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"a secret reached {where}"


def test_a_canary_secret_reaches_the_allowed_server_and_nothing_else(chat, llm, database, base_env, web, worker,
                                                                    workdir, owner_conn, cleanup):
    def answer(request):   # echoes what it got, and "leaks" a known secret it was never sent
        return json_response({"target": request.target, "authorization": request.headers.get("authorization"),
                              "leaked": LEAK_CANARY})

    with LocalHttpServer(answer, host=INTERNAL) as server:
        namespace, name = _chatbot(database, server.port)
        # The system's secrets: one with the CLI, one with the admin API.
        done = fluxbase(base_env, "settings", "set", SYSTEM_KEY, SYSTEM_CANARY, "--secret")
        assert done.returncode == 0, done.stderr
        assert _rest(web, "POST", "/api/v1/admin/settings/custom/secret", {"key": LEAK_KEY, "value": LEAK_CANARY},
                     {"X-Service-Key": TEST_SERVICE_KEY}) == 201

        client = chat()
        refused = client.start_chat(name, namespace=namespace)
        assert (refused["type"], refused["code"], refused["setting"]) == ("error", Code.SETTINGS_MISSING, USER_KEY)
        assert USER_KEY in refused["error"]

        # The user's own, with the user API.
        assert _rest(web, "POST", "/api/v1/settings/secret/", {"key": USER_KEY, "value": USER_CANARY},
                     {"Authorization": f"Bearer {token_for(ALICE)}"}) == 201
        conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
        llm.reply_tool_calls([{"name": "http_get", "arguments": {
            "url": f"http://127.0.0.1:{server.port}/data", "params": {"appid": f"{{{{secret:{SYSTEM_KEY}}}}}"},
            "headers": {"Authorization": f"Bearer {{{{secret:{USER_KEY}}}}}"}}}])
        llm.reply_text("Here is the data.")
        events = client.ask(conversation, "Fetch the data please")

    assert events[-1]["type"] == "done", events[-1]
    # The allowed server, and only it, got the real values.
    [sent] = server.requests
    assert sent.headers["authorization"] == f"Bearer {USER_CANARY}"
    assert sent.target == f"/data?appid={SYSTEM_CANARY}"

    # The model: placeholders in its prompt, and every echo of a value back as its placeholder.
    for request in llm.requests:   # every request the scripted LLM recorded in this test
        _no_canary("the model", json.dumps(request.body) + json.dumps(request.query))
    requests = llm.chat_requests()
    assert len(requests) == 2
    system = requests[0].body["messages"][0]["content"]
    assert f"Bearer {{{{secret:{USER_KEY}}}}}" in system and f"appid={{{{secret:{SYSTEM_KEY}}}}}" in system
    assert f"Never mention {{{{secret:{LEAK_KEY}}}}}" in system and "the http_get tool fills it in" in system
    tool_message = next(m for m in requests[1].body["messages"] if m["role"] == "tool")["content"]
    assert f"Bearer {{{{secret:{USER_KEY}}}}}" in tool_message and f"{{{{secret:{LEAK_KEY}}}}}" in tool_message

    # The client: the tool_result's preview carries placeholders too.
    _no_canary("the client", json.dumps(client.events))
    preview = next(e for e in events if e["type"] == "tool_result")["data"]["preview"]
    assert f"{{{{secret:{LEAK_KEY}}}}}" in preview and f"appid={{{{secret:{SYSTEM_KEY}}}}}" in preview

    # The stored messages, as the history the next turn reads and the conversation API shows.
    rows = owner_conn.execute("select m::text from ai.messages m where conversation_id = %s",
                              (conversation,)).fetchall()
    assert len(rows) >= 4
    _no_canary("ai.messages", "\n".join(row[0] for row in rows))

    # The worker's and the web process's logs (tests/support/processes.py writes them into the workdir).
    for log_name in ("worker-main.log", "web.log"):
        _no_canary(log_name, (workdir / log_name).read_text(errors="replace"))
    assert any("http_get for chatbot" in line for line in worker.log_text().splitlines())  # the right file


def test_a_secret_the_chatbot_does_not_name_is_not_resolved(chat, llm, database, web, owner_conn, cleanup):
    other = f"canary-{RUN}.unnamed"
    assert _rest(web, "POST", "/api/v1/admin/settings/custom/secret", {"key": other, "value": LEAK_CANARY},
                 {"X-Service-Key": TEST_SERVICE_KEY}) == 201
    with LocalHttpServer(lambda request: json_response({}), host=INTERNAL) as server:
        namespace, name = _chatbot(database, server.port)
        _rest(web, "POST", "/api/v1/admin/settings/custom/secret", {"key": SYSTEM_KEY, "value": SYSTEM_CANARY},
              {"X-Service-Key": TEST_SERVICE_KEY})
        _rest(web, "POST", "/api/v1/settings/secret/", {"key": USER_KEY, "value": USER_CANARY},
              {"Authorization": f"Bearer {token_for(ALICE)}"})
        client = chat()
        conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
        llm.reply_tool_calls([{"name": "http_get", "arguments": {
            "url": f"http://127.0.0.1:{server.port}/data?k={{{{secret:{other}}}}}"}}])
        llm.reply_text("I could not.")
        events = client.ask(conversation, "Try the other key")
    assert events[-1]["type"] == "done" and server.requests == []
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["error"].startswith(f"the secret {{{{secret:{other}}}}} is not set for this chatbot")
