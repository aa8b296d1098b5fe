"""Usage end to end: turns over WebSockets for two users and an anonymous caller, then the admin usage
API over HTTP. Its figures per (user, chatbot, day) are the sums of the `done` events' usages."""
from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from collections import Counter, defaultdict

import pytest

from app.chatbots.sync_service import sync_payload
from tests.conftest import TEST_CHATBOT, TEST_SERVICE_KEY

NAMESPACE = "usage-e2e"
SQL = {"name": "execute_sql", "arguments": {"sql": "SELECT 1 AS one", "description": "one"}}


def usage_api(web: str, **params) -> dict:
    query = urllib.parse.urlencode(params)
    request = urllib.request.Request(f"{web}/api/v1/admin/ai/usage?{query}", headers={"X-Service-Key": TEST_SERVICE_KEY})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def bots(web, database):
    code = TEST_CHATBOT.format(anon="true", max_turns=50, language="auto")
    report = sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "alpha", "code": code},
                                                                   {"name": "beta", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return NAMESPACE


def test_the_usage_api_sums_the_done_usages_per_user_chatbot_and_day(web, bots, chat, llm, owner_conn, database):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    # (user, chatbot, replies); each reply is (prompt, completion) of one model call.
    script = [
        (first, "alpha", [(120, 9)]),
        (first, "alpha", [(200, 20), (300, 6)]),     # a tool round, then the answer: both count
        (first, "beta", [(11, 2)]),
        (second, "alpha", [(40, 4)]),
        (second, "beta", [(7, 1), (8, 2)]),
        (None, "beta", [(5, 5)]),                    # anonymous
        (None, "beta", [(6, 1)]),
    ]
    clients = {}
    done = []
    for user, bot, replies in script:
        if user not in clients:
            clients[user] = chat(user, role="authenticated") if user else chat(None, role="none")
        client = clients[user]
        conversation = client.start_chat(bot, namespace=NAMESPACE)["conversation_id"]
        for usage in replies[:-1]:
            llm.reply_tool_calls([SQL], usage=usage)
        llm.reply_text("An answer.", usage=replies[-1])
        ending = client.ask(conversation, "a question")[-1]
        assert ending["type"] == "done", ending
        done.append((user, bot, ending))

    expected: dict[tuple, Counter] = defaultdict(Counter)
    for user, bot, ending in done:
        # The day is the UTC day the turn finished.
        day = owner_conn.execute("select (finished_at at time zone 'UTC')::date::text from ai.turns "
                                 "where assistant_message_id = %s", (ending["message_id"],)).fetchone()[0]
        figures = expected[(day, bot, user)]
        figures["requests"] += 1
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            figures[key] += ending["usage"][key]

    def reported() -> dict[tuple, dict]:
        rows = usage_api(web, namespace=NAMESPACE)["usage"]
        return {(r["day"], r["chatbot"], r["user_id"]): {k: r[k] for k in ("requests", "prompt_tokens",
                                                                            "completion_tokens", "total_tokens")}
                for r in rows}

    assert reported() == {key: dict(figures) for key, figures in expected.items()}
    body = usage_api(web, namespace=NAMESPACE, user_id=first)
    assert body["totals"]["total_tokens"] == sum(e["usage"]["total_tokens"] for u, _, e in done if u == first)
    assert {row["chatbot"] for row in usage_api(web, namespace=NAMESPACE, chatbot="beta",
                                                user_id="anonymous")["usage"]} == {"beta"}

    # A redelivered finished turn (its message came back after a worker died) is not counted again.
    from workers.services import WorkerServices, worker_runtime
    from workers.turn import execute_turn

    turn_id = owner_conn.execute("select id::text from ai.turns where assistant_message_id = %s",
                                 (done[0][2]["message_id"],)).fetchone()[0]
    services = WorkerServices(worker_runtime(database))
    try:
        execute_turn(services, turn_id)
    finally:
        services.close()
    assert reported() == {key: dict(figures) for key, figures in expected.items()}


def test_a_failed_turn_is_a_request_with_the_tokens_it_used(web, bots, chat, llm, owner_conn):
    user = str(uuid.uuid4())
    client = chat(user)
    conversation = client.start_chat("alpha", namespace=NAMESPACE)["conversation_id"]
    llm.reply_tool_calls([SQL], usage=(200, 20))
    llm.reply_error(500, "upstream broke")
    assert client.ask(conversation, "one?")[-1]["code"] == "PROVIDER_ERROR"
    llm.reply_text("Now it works.", usage=(30, 3))
    ending = client.ask(conversation, "again?")[-1]
    (row,) = usage_api(web, namespace=NAMESPACE, user_id=user)["usage"]
    # The provider charged for the failed turn's first round; no `done` told anyone.
    assert (row["requests"], row["errors"]) == (2, 1)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (200 + ending["usage"]["prompt_tokens"],
                                                                20 + ending["usage"]["completion_tokens"])
