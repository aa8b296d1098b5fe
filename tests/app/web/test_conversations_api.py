"""The conversation REST APIs (a user's own, and the admins') through the Flask test client on a real database.

Every test uses users of its own: the session's database holds the conversations of every other test.
"""
from __future__ import annotations

import uuid

import pytest

from app.auth.tokens import mint
from tests.conftest import TEST_SECRET, TEST_SERVICE_KEY
from tests.support.conversations import (
    connect,
    conversation_row,
    count_rows,
    finish_open_turns,
    make_conversation,
    set_expiry,
    sync_bots,
)

BASE = "/api/v1/ai/conversations"
ADMIN = "/api/v1/admin/ai/conversations"
SERVICE = {"X-Service-Key": TEST_SERVICE_KEY}
# Fluxbase's SDK types (sdk/src/types.ts), plus our documented additions.
SUMMARY_KEYS = {"id", "chatbot", "namespace", "title", "preview", "message_count", "created_at", "updated_at",
                "expires_at"}
DETAIL_KEYS = {"id", "chatbot", "namespace", "title", "created_at", "updated_at", "messages", "expires_at",
               "message_count"}
MESSAGE_KEYS = {"id", "role", "content", "timestamp", "created_at", "status"}
ADMIN_KEYS = {"id", "chatbot_id", "chatbot_name", "chatbot", "namespace", "user_id", "user_role", "title", "status",
              "persisted", "turn_count", "message_count", "preview", "total_prompt_tokens",
              "total_completion_tokens", "created_at", "updated_at", "last_message_at", "expires_at", "provider"}


@pytest.fixture(scope="module")
def bots(database):
    return sync_bots(database)


def new_user() -> str:
    return str(uuid.uuid4())


def as_user(user_id: str, role: str = "authenticated") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(TEST_SECRET, role=role, user_id=user_id)}"}


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["code"]


def test_a_user_lists_only_their_own_conversations_newest_first_with_total_and_has_more(client, database, bots):
    alice, bob = new_user(), new_user()
    first = make_conversation(database, bots["keep"], alice, exchanges=[("How many orders do I have?", "Five.")])
    second = make_conversation(database, bots["keep-too"], alice, exchanges=[("q1", "a1"), ("q2", "a2")])
    third = make_conversation(database, bots["keep"], alice)
    make_conversation(database, bots["keep"], bob, exchanges=[("bob's", "secret")])
    body = client.get(BASE, headers=as_user(alice)).get_json()
    assert [c["id"] for c in body["conversations"]] == [third.id, second.id, first.id]
    assert (body["total"], body["has_more"], body["limit"], body["offset"]) == (3, False, 50, 0)
    summary = body["conversations"][2]
    assert set(summary) == SUMMARY_KEYS
    assert (summary["chatbot"], summary["namespace"]) == ("keep", bots["namespace"])
    assert summary["title"] == summary["preview"] == "How many orders do I have?"
    assert summary["message_count"] == 2
    assert body["conversations"][1]["message_count"] == 4 and body["conversations"][0]["message_count"] == 0
    assert body["conversations"][0]["preview"] == "" and body["conversations"][0]["title"] is None

    page = client.get(f"{BASE}?limit=2", headers=as_user(alice)).get_json()
    assert [c["id"] for c in page["conversations"]] == [third.id, second.id]
    assert (page["total"], page["has_more"]) == (3, True)
    rest = client.get(f"{BASE}?limit=2&offset=2", headers=as_user(alice)).get_json()
    assert [c["id"] for c in rest["conversations"]] == [first.id] and (rest["total"], rest["has_more"]) == (3, False)
    past = client.get(f"{BASE}?limit=2&offset=10", headers=as_user(alice)).get_json()
    assert (past["conversations"], past["total"], past["has_more"]) == ([], 3, False)

    only = client.get(f"{BASE}?chatbot=keep&namespace={bots['namespace']}", headers=as_user(alice)).get_json()
    assert [c["id"] for c in only["conversations"]] == [third.id, first.id] and only["total"] == 2
    assert client.get(f"{BASE}?namespace=default", headers=as_user(alice)).get_json()["total"] == 0
    assert client.get(BASE, headers=as_user(new_user())).get_json() == {
        "conversations": [], "total": 0, "has_more": False, "limit": 50, "offset": 0}


def test_get_shows_questions_and_answers_with_usage_and_the_queries_they_ran(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice, exchanges=[("List my orders", "You have 5 orders.")],
                             with_query=True)
    response = client.get(f"{BASE}/{made.id}", headers=as_user(alice))
    assert response.status_code == 200
    detail = response.get_json()
    assert set(detail) == DETAIL_KEYS and detail["id"] == made.id and detail["chatbot"] == "keep"
    question, answer = detail["messages"]  # the tool call and its result are the model's working
    assert set(question) == MESSAGE_KEYS
    assert (question["role"], question["content"], question["status"]) == ("user", "List my orders", "complete")
    assert question["timestamp"] == question["created_at"]
    assert answer["id"] == made.message_ids[0] and answer["role"] == "assistant"
    assert answer["content"] == "You have 5 orders."
    assert answer["usage"] == {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107}
    assert answer["query_results"] == [{"query": "SELECT id FROM orders", "summary": "Returned 5 rows",
                                        "row_count": 5}]
    messages = client.get(f"{BASE}/{made.id}/messages", headers=as_user(alice)).get_json()
    assert messages["messages"] == detail["messages"]
    assert (messages["total"], messages["has_more"]) == (2, False)
    page = client.get(f"{BASE}/{made.id}/messages?limit=1&offset=1", headers=as_user(alice)).get_json()
    assert [m["id"] for m in page["messages"]] == [answer["id"]] and (page["total"], page["has_more"]) == (2, False)


def test_rename_is_trimmed_checked_and_shows_in_the_list(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice, exchanges=[("first question", "answer")])
    response = client.patch(f"{BASE}/{made.id}", headers=as_user(alice), json={"title": "  Orders\n of May  "})
    assert response.status_code == 200
    assert set(response.get_json()) == DETAIL_KEYS and response.get_json()["title"] == "Orders of May"
    assert len(response.get_json()["messages"]) == 2
    listed = client.get(BASE, headers=as_user(alice)).get_json()["conversations"]
    assert [(c["id"], c["title"]) for c in listed] == [(made.id, "Orders of May")]
    assert client.patch(f"{BASE}/{made.id}", headers=as_user(alice), json={"title": "x" * 200}).status_code == 200
    for body in ({"title": ""}, {"title": "   "}, {"title": "x" * 201}, {"title": 5}, {"title": None}, {},
                 {"title": "ok", "pinned": True}, ["title"]):
        refused = client.patch(f"{BASE}/{made.id}", headers=as_user(alice), json=body)
        assert error_of(refused) == (400, "INVALID_REQUEST"), body
    not_json = client.patch(f"{BASE}/{made.id}", headers=as_user(alice), data="title=x",
                            content_type="application/x-www-form-urlencoded")
    assert error_of(not_json) == (400, "INVALID_REQUEST")
    nul = client.patch(f"{BASE}/{made.id}", headers=as_user(alice), json={"title": "a\x00b"})
    assert nul.status_code == 200 and nul.get_json()["title"] == "a\ufffdb"
    assert conversation_row(database, made.id)["title"] == "a\ufffdb"


def test_delete_removes_the_conversation_its_turns_and_messages(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice, exchanges=[("q", "a")], with_query=True)
    assert count_rows(database, "ai.messages", made.id) == 4
    response = client.delete(f"{BASE}/{made.id}", headers=as_user(alice))
    assert response.status_code == 200 and response.get_json() == {"deleted": True, "id": made.id}
    assert conversation_row(database, made.id) is None
    assert count_rows(database, "ai.messages", made.id) == 0 and count_rows(database, "ai.turns", made.id) == 0
    assert error_of(client.get(f"{BASE}/{made.id}", headers=as_user(alice))) == (404, "CONVERSATION_NOT_FOUND")
    assert error_of(client.delete(f"{BASE}/{made.id}", headers=as_user(alice))) == (404, "CONVERSATION_NOT_FOUND")


def test_a_conversation_with_a_running_turn_is_not_deleted(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice, exchanges=[("q", "a")], open_turn="thinking...")
    try:
        refused = client.delete(f"{BASE}/{made.id}", headers=as_user(alice))
        assert error_of(refused) == (409, "TURN_IN_PROGRESS")
        assert conversation_row(database, made.id) is not None and count_rows(database, "ai.messages", made.id) == 3
    finally:
        finish_open_turns(database, made.id)


def test_nobody_else_reaches_a_conversation_on_any_endpoint(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice, exchanges=[("private question", "private answer")])
    others = {
        "another user": as_user(new_user()),
        # The role is part of ownership, as for a WebSocket resume: the same `sub` with other rights owns nothing.
        "the same sub as service_role": as_user(alice, role="service_role"),
    }
    for who, headers in others.items():
        for method, path, body in (("get", f"{BASE}/{made.id}", None), ("get", f"{BASE}/{made.id}/messages", None),
                                   ("patch", f"{BASE}/{made.id}", {"title": "mine now"}),
                                   ("delete", f"{BASE}/{made.id}", None)):
            response = getattr(client, method)(path, headers=headers, json=body)
            assert error_of(response) == (404, "CONVERSATION_NOT_FOUND"), (who, method, path)
        assert client.get(BASE, headers=headers).get_json()["total"] == 0, who
    row = conversation_row(database, made.id)
    assert row is not None and row["title"] == "private question"
    for bad in (str(uuid.uuid4()), "not-a-uuid", "1 or 1=1", made.id.upper().replace("-", "")[:-1]):
        for method, path in (("get", f"{BASE}/{bad}"), ("get", f"{BASE}/{bad}/messages"), ("delete", f"{BASE}/{bad}")):
            assert error_of(getattr(client, method)(path, headers=as_user(alice))) == (404, "CONVERSATION_NOT_FOUND")
        assert error_of(client.patch(f"{BASE}/{bad}", headers=as_user(alice), json={"title": "t"})) == \
            (404, "CONVERSATION_NOT_FOUND")


def test_callers_without_a_user_own_nothing_here(client, database, bots):
    made = make_conversation(database, bots["keep"], new_user())
    anon_key = {"apikey": mint(TEST_SECRET, role="anon")}
    for headers in ({}, anon_key, SERVICE):
        for method, path in (("get", BASE), ("get", f"{BASE}/{made.id}"), ("get", f"{BASE}/{made.id}/messages"),
                             ("patch", f"{BASE}/{made.id}"), ("delete", f"{BASE}/{made.id}")):
            response = getattr(client, method)(path, headers=headers, json={"title": "t"})
            assert error_of(response) == (401, "AUTH_REQUIRED"), (headers, method, path)
    bad = client.get(BASE, headers={"Authorization": "Bearer not.a.token"})
    assert error_of(bad) == (401, "AUTH_INVALID")


def test_expired_conversations_are_absent_unless_a_turn_is_still_running(client, database, bots):
    alice = new_user()
    gone = make_conversation(database, bots["keep"], alice, exchanges=[("q", "a")])
    busy = make_conversation(database, bots["brief"], alice, persisted=False, open_turn="answer me")
    try:
        for made in (gone, busy):
            set_expiry(database, made.id, "now() - interval '1 second'")
        assert [c["id"] for c in client.get(BASE, headers=as_user(alice)).get_json()["conversations"]] == [busy.id]
        assert error_of(client.get(f"{BASE}/{gone.id}", headers=as_user(alice))) == (404, "CONVERSATION_NOT_FOUND")
        assert error_of(client.patch(f"{BASE}/{gone.id}", headers=as_user(alice), json={"title": "t"})) == \
            (404, "CONVERSATION_NOT_FOUND")
        assert client.get(f"{BASE}/{busy.id}", headers=as_user(alice)).status_code == 200
    finally:
        finish_open_turns(database, busy.id)


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "offset=-1", "offset=x",
                                   "chatbot=Not%20A%20Name", "namespace=" + "a" * 64, "chatbot_id=x", "limit=1&limit=2"])
def test_list_parameters_are_checked(client, query):
    response = client.get(f"{BASE}?{query}", headers=as_user(new_user()))
    assert error_of(response) == (400, "INVALID_REQUEST"), query
    assert "field" in response.get_json()


def test_message_page_parameters_are_checked(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice)
    for query in ("limit=0", "limit=1001", "offset=-5", "chatbot=keep"):
        response = client.get(f"{BASE}/{made.id}/messages?{query}", headers=as_user(alice))
        assert error_of(response) == (400, "INVALID_REQUEST"), query


def test_admins_list_everyones_conversations_and_read_every_message(client, database, bots):
    alice, bob = new_user(), new_user()
    hers = make_conversation(database, bots["keep"], alice, exchanges=[("q", "a")], with_query=True)
    his = make_conversation(database, bots["keep-too"], bob, exchanges=[("q", "a")])
    mine = client.get(f"{ADMIN}?user_id={alice}", headers=SERVICE).get_json()
    assert [c["id"] for c in mine["conversations"]] == [hers.id]
    assert (mine["total"], mine["total_count"], mine["has_more"]) == (1, 1, False)
    item = mine["conversations"][0]
    assert set(item) == ADMIN_KEYS
    assert (item["chatbot_id"], item["chatbot_name"], item["user_id"], item["user_role"]) == \
        (bots["keep"], "keep", alice, "authenticated")
    assert (item["status"], item["persisted"], item["turn_count"], item["message_count"]) == ("active", True, 1, 2)
    assert (item["total_prompt_tokens"], item["total_completion_tokens"]) == (100, 7)
    by_bot = client.get(f"{ADMIN}?chatbot_id={bots['keep-too']}&limit=100", headers=SERVICE).get_json()
    assert his.id in [c["id"] for c in by_bot["conversations"]] and hers.id not in \
        [c["id"] for c in by_bot["conversations"]]
    both = client.get(f"{ADMIN}?chatbot_id={bots['keep']}&user_id={bob}", headers=SERVICE).get_json()
    assert both["total"] == 0

    messages = client.get(f"{ADMIN}/{hers.id}/messages", headers=SERVICE).get_json()
    assert [m["role"] for m in messages["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert messages["total"] == 4 and messages["has_more"] is False
    call, result = messages["messages"][1], messages["messages"][2]
    assert call["tool_calls"][0]["name"] == "execute_sql" and result["tool_name"] == "execute_sql"
    assert result["tool_call_id"] == call["tool_calls"][0]["id"]
    assert all(m["conversation_id"] == hers.id for m in messages["messages"])
    sequence = [m["sequence_number"] for m in messages["messages"]]
    assert sequence == sorted(sequence)
    assert error_of(client.get(f"{ADMIN}/{uuid.uuid4()}/messages", headers=SERVICE)) == (404, "CONVERSATION_NOT_FOUND")
    assert error_of(client.get(f"{ADMIN}/nope/messages", headers=SERVICE)) == (404, "CONVERSATION_NOT_FOUND")
    set_expiry(database, his.id, "now() - interval '1 second'")
    assert error_of(client.get(f"{ADMIN}/{his.id}/messages", headers=SERVICE)) == (404, "CONVERSATION_NOT_FOUND")


def test_the_admin_api_is_for_admins_and_checks_its_parameters(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice)
    for path in (ADMIN, f"{ADMIN}/{made.id}/messages"):
        assert error_of(client.get(path)) == (401, "AUTH_REQUIRED")
        assert error_of(client.get(path, headers=as_user(alice))) == (403, "FORBIDDEN")
    admin_jwt = {"Authorization": f"Bearer {mint(TEST_SECRET, role='service_role')}"}
    assert client.get(f"{ADMIN}?user_id={alice}", headers=admin_jwt).get_json()["total"] == 1
    assert client.get(f"{ADMIN}?user_id={alice}&status=active", headers=SERVICE).get_json()["total"] == 1
    for query in ("chatbot_id=nope", "user_id=12", "limit=0", "limit=1001", "offset=-1", "status=archived",
                  "chatbot=keep"):
        assert error_of(client.get(f"{ADMIN}?{query}", headers=SERVICE)) == (400, "INVALID_REQUEST"), query


def test_deleted_conversations_leave_the_admin_list_too(client, database, bots):
    alice = new_user()
    made = make_conversation(database, bots["keep"], alice)
    assert client.delete(f"{BASE}/{made.id}", headers=as_user(alice)).status_code == 200
    assert client.get(f"{ADMIN}?user_id={alice}", headers=SERVICE).get_json()["total"] == 0
    with connect(database) as conn:
        assert conn.execute("select count(*) as n from ai.conversations where id = %s",
                            (made.id,)).fetchone()["n"] == 0
