"""Protocol edges: credentials, bad frames, sessions, limits, resume, cancel and provider failures."""
import json
import urllib.request
import uuid

import psycopg
import pytest
import websocket
from psycopg.rows import dict_row

from app.chat import conversations
from tests.conftest import ALICE, BOB, TEST_SERVICE_KEY, token_for
from tests.support.chat_client import ChatClient
from tests.support.llm_script import split_text
from tests.support.processes import wait_until


def test_invalid_token_gets_401_before_the_upgrade(web):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        ChatClient(web, "not-a-jwt")
    assert info.value.status_code == 401
    assert json.loads(info.value.resp_body) == {"error": "invalid token: Not enough segments", "code": "AUTH_INVALID"}


def test_expired_token_gets_401(web):
    from app.auth.tokens import mint
    from tests.conftest import TEST_SECRET

    expired = mint(TEST_SECRET, role="authenticated", user_id=ALICE, ttl_seconds=-60)
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        ChatClient(web, expired)
    assert info.value.status_code == 401 and b"expired" in info.value.resp_body


def test_foreign_origin_is_refused(web):
    with pytest.raises(websocket.WebSocketBadStatusException) as info:
        ChatClient(web, token_for(ALICE), origin="https://evil.example")
    assert info.value.status_code == 403


@pytest.mark.parametrize("frame,code", [
    ("not json", "INVALID_MESSAGE"),
    ("[1, 2]", "INVALID_MESSAGE"),
    ('{"no_type": 1}', "INVALID_MESSAGE"),
    ('{"type": "dance"}', "UNKNOWN_TYPE"),
    ('{"type": "start_chat"}', "INVALID_MESSAGE"),
    ('{"type": "start_chat", "chatbot": "shop", "namespace": "tests", "last_seq": -1}', "INVALID_MESSAGE"),
    ('{"type": "message", "conversation_id": "nope", "content": "x"}', "INVALID_MESSAGE"),
    ('{"type": "message", "conversation_id": "6b0e1f0e-0000-4000-8000-000000000000"}', "INVALID_MESSAGE"),
    ('{"type": "message", "conversation_id": "6b0e1f0e-0000-4000-8000-000000000000", "content": "x"}', "NO_SESSION"),
    ('{"type": "cancel", "conversation_id": "6b0e1f0e-0000-4000-8000-000000000000"}', "NO_SESSION"),
])
def test_bad_frames_get_their_error_code_and_the_socket_stays_usable(chat, frame, code):
    client = chat()
    client.send(frame)
    error = client.recv()
    assert error["type"] == "error" and error["code"] == code, error
    if code == "NO_SESSION" and "content" in frame:
        assert error["error"] == "No active chat session"
    assert client.start_chat("shop", namespace="tests")["type"] == "chat_started"


def test_oversized_frame_is_refused_and_the_socket_stays_usable(chat):
    client = chat()
    client.send(json.dumps({"type": "message", "conversation_id": str(uuid.uuid4()), "content": "x" * 70_000}))
    assert client.recv()["code"] == "MESSAGE_TOO_LARGE"
    assert client.start_chat("shop", namespace="tests")["type"] == "chat_started"


def test_unknown_or_disabled_chatbot(chat):
    client = chat()
    error = client.start_chat("no-such-bot", namespace="tests")
    assert error == {"type": "error", "code": "CHATBOT_NOT_FOUND", "error": "Chatbot not found or disabled"}


def test_anonymous_needs_a_chatbot_that_allows_it(chat, llm):
    client = chat(role="none")
    assert client.start_chat("shop", namespace="tests")["code"] == "AUTH_REQUIRED"
    started = client.start_chat("shop-anon", namespace="tests")
    assert started["type"] == "chat_started"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT count(*) AS n FROM orders",
                                                                 "description": "orders"}}])
    llm.reply_text("No access.")
    result = next(e for e in client.ask(started["conversation_id"], "orders?") if e["type"] == "query_result")
    assert result["error"] == "Permission denied"


def test_service_key_connection_is_trusted(web, test_chatbots):
    client = ChatClient(web, headers={"X-Service-Key": TEST_SERVICE_KEY})
    try:
        assert client.start_chat("shop", namespace="tests")["type"] == "chat_started"
    finally:
        client.close()


def test_resume_rules_never_reveal_another_users_conversation(chat):
    alice = chat(ALICE)
    conversation = alice.start_chat("shop", namespace="tests")["conversation_id"]
    bob = chat(BOB)
    for attempt in ({"conversation_id": conversation}, {"conversation_id": str(uuid.uuid4())}):
        error = bob.start_chat("shop", namespace="tests", **attempt)
        assert error["code"] == "CONVERSATION_NOT_FOUND"
    other_bot = alice.start_chat("shop-anon", namespace="tests", conversation_id=conversation)
    assert other_bot["code"] == "CONVERSATION_NOT_FOUND"
    again = chat(ALICE).start_chat("shop", namespace="tests", conversation_id=conversation)
    assert again["type"] == "chat_started" and again["resumed"] is True


def test_turn_in_progress_and_turn_limit(chat, llm):
    client = chat()
    conversation = client.start_chat("shop-short", namespace="tests")["conversation_id"]
    gate = llm.reply_held("An answer held until the test lets it finish", after_chunks=2, chunks=6)
    client.send({"type": "message", "conversation_id": conversation, "content": "first"})
    client.until(lambda e: e["type"] == "content")
    assert llm.wait_for_held(1)  # the turn is running, and stays so until the gate opens
    client.send({"type": "message", "conversation_id": conversation, "content": "second"})
    error = client.until(lambda e: e["type"] == "error")[-1]
    assert error["code"] == "TURN_IN_PROGRESS" and error["conversation_id"] == conversation
    gate.open()
    client.until_type("done")
    assert content(client.events) == "An answer held until the test lets it finish"
    client.send({"type": "message", "conversation_id": conversation, "content": "third"})
    limit = client.until(lambda e: e["type"] == "error")[-1]
    assert limit["code"] == "TURN_LIMIT" and limit["error"] == "Conversation turn limit reached"


def test_reconnect_mid_turn_resumes_without_loss_or_duplicates(chat, llm):
    first = chat()
    conversation = first.start_chat("shop", namespace="tests")["conversation_id"]
    text = "one two three four five six seven eight nine ten"
    gate = llm.reply_held(text, after_chunks=4, chunks=10)  # the role chunk, then 3 of the 10 pieces
    first.send({"type": "message", "conversation_id": conversation, "content": "count"})
    held = "".join(split_text(text, 10)[:3])  # deltas may reach a slow client merged: wait on the text
    first.until(lambda e: content(first.events) == held)
    assert llm.wait_for_held(1)
    last_seq = max(e["seq"] for e in first.events if e.get("conversation_id") == conversation and "message_id" in e)
    first.close()
    second = chat()
    resumed = second.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=last_seq)
    assert resumed["resumed"] is True
    gate.open()  # the rest of the turn is streamed only now, to the second socket
    rest = second.until_type("done")
    before = [e for e in first.events if "message_id" in e]
    after = [e for e in rest if "message_id" in e]
    # The first socket left mid-turn and the second picked it up there: each saw part of the answer.
    assert [e["type"] for e in before if e["type"] in ("done", "error", "cancelled")] == []
    assert content(before) and content(after) and text == content(before) + content(after)
    # The two sockets together saw the turn once, in order: numbers only grow (deltas a slow socket
    # had queued may arrive merged, carrying the last seq they hold) and the ending is the last.
    seqs = [e["seq"] for e in before + after]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1 and after[-1]["type"] == "done", seqs
    # chat_started stands just before the replay, so a client keeping the highest seq stays exact.
    assert resumed["seq"] == last_seq


def content(events):
    return "".join(e["delta"] for e in events if e["type"] == "content")


def test_resume_with_old_last_seq_replays_the_whole_latest_turn(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_text("first answer")
    client.ask(conversation, "one")
    llm.reply_text("second answer")
    client.ask(conversation, "two")
    later = chat()
    later.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=0)
    replayed = later.until_type("done")
    assert content(replayed) == "second answer"
    assert replayed[0]["type"] == "progress"


def test_resume_without_last_seq_replays_a_running_turn_but_not_a_finished_one(chat, llm):
    # Fluxbase's SDK never sends last_seq: a finished turn replayed to it would fire onContent and
    # onDone again and show the last answer twice.
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_text("finished answer")
    client.ask(conversation, "one")
    later = chat()
    started = later.start_chat("shop", namespace="tests", conversation_id=conversation)
    assert started["resumed"] is True
    gate = llm.reply_held("running answer", after_chunks=2, chunks=4)
    later.send({"type": "message", "conversation_id": conversation, "content": "two"})
    assert llm.wait_for_held()
    # Everything this socket got before the new turn's events belongs to the new turn.
    assert later.events[0]["type"] == "chat_started"
    assert all("finished" not in e.get("delta", "") for e in later.events)
    third = chat()
    third.start_chat("shop", namespace="tests", conversation_id=conversation)
    gate.open()
    replayed = third.until_type("done")
    assert content(replayed) == "running answer" and replayed[0]["type"] == "progress"
    assert content(later.until_type("done")) == "running answer"


def test_cancel_mid_stream_closes_upstream_keeps_partial_and_socket(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_stall(after_chunks=3, text="partial answer that never ends")
    client.send({"type": "message", "conversation_id": conversation, "content": "talk"})
    client.until(lambda e: e["type"] == "content")
    assert llm.wait_for_stall(10)
    client.send({"type": "cancel", "conversation_id": conversation})
    events = client.until_type("cancelled", "done", "error")
    assert events[-1]["type"] == "cancelled"
    assert llm.wait_for_disconnect(10)
    partial = content(client.events)
    row = owner_conn.execute("select content, status from ai.messages where conversation_id = %s and role = "
                             "'assistant'", (conversation,)).fetchone()
    assert row == (partial, "cancelled") and partial
    llm.reply_text("Still here.")
    assert client.ask(conversation, "are you there?")[-1]["type"] == "done"


def test_cancel_during_a_running_statement(chat, llm, database, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    sql = "SELECT count(*) AS n FROM orders"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "count the orders"}}])

    def statement_waits():
        return owner_conn.execute("select 1 from pg_stat_activity where pid <> pg_backend_pid() and query = %s "
                                  "and wait_event_type = 'Lock'", (sql,)).fetchone()

    # The statement stays running, waiting for this lock, until it is cancelled.
    with psycopg.connect(database.database_url) as blocker:
        blocker.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        client.send({"type": "message", "conversation_id": conversation, "content": "count the orders"})
        client.until(lambda e: e["type"] == "progress" and e["step"] == "executing")
        wait_until(statement_waits, 10, "the statement to wait for the lock")
        client.send({"type": "cancel", "conversation_id": conversation})
        events = client.until_type("cancelled", "done", "error", timeout=10)
        blocker.rollback()
    assert events[-1]["type"] == "cancelled"
    result = [e for e in events if e["type"] == "query_result"]
    assert [r["error"] for r in result] == ["Query cancelled"]


@pytest.mark.parametrize("status,code,text", [
    (401, "PROVIDER_AUTH_FAILED", "Provider authentication failed"),
    (403, "PROVIDER_AUTH_FAILED", "Provider authentication failed"),
    (429, "PROVIDER_ERROR", "AI provider not available"),
    (500, "PROVIDER_ERROR", "AI provider not available"),
    (503, "PROVIDER_ERROR", "AI provider not available"),
])
def test_provider_failures_map_to_protocol_codes(chat, llm, status, code, text):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_error(status, "scripted failure", retry_after=7 if status == 429 else None)
    error = client.ask(conversation, "hello")[-1]
    assert error["type"] == "error" and error["code"] == code and error["error"].startswith(text)
    if status == 429:
        assert error["retry_after"] == 7


@pytest.mark.parametrize("failure", ["cut", "stall"])
def test_broken_streams_are_provider_errors_and_keep_the_partial_answer(chat, llm, owner_conn, failure):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    text = "half an answer, and then nothing more"
    if failure == "cut":
        llm.reply_cut(after_chunks=3, text=text)
    else:
        llm.reply_stall(after_chunks=3, text=text)  # silent past LLM_TIMEOUT_SECONDS (3 s here)
    events = client.ask(conversation, "hello", timeout=30)
    error = events[-1]
    assert error["type"] == "error" and error["code"] == "PROVIDER_ERROR"
    assert error["error"] == "AI provider not available: " + (
        "the provider timed out" if failure == "stall" else "the connection to the provider failed")
    partial = content(events)
    assert partial == "".join(split_text(text, 5)[:2])  # the role chunk, then two pieces
    assert {e["message_id"] for e in events if e["type"] in ("content", "error")} == {error["message_id"]}
    stored = owner_conn.execute("select id::text, content, status, usage_estimated from ai.messages "
                                "where conversation_id = %s and role = 'assistant'", (conversation,)).fetchall()
    # The provider read the prompt and wrote part of an answer without reporting usage: it is counted.
    assert stored == [(error["message_id"], partial, "error", True)]
    turn = owner_conn.execute("select status, error_code, prompt_tokens > 0, usage_estimated from ai.turns "
                              "where conversation_id = %s", (conversation,)).fetchone()
    assert turn == ("error", "PROVIDER_ERROR", True, True)
    assert len(llm.chat_requests()) == 1


def test_health_still_ok_after_chat(web):
    with urllib.request.urlopen(f"{web}/health", timeout=10) as response:
        assert response.status == 200


def test_cancel_of_a_turn_no_worker_has_taken_closes_it_at_once(chat, database, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        # Queued in the database but never enqueued: as if the task message were lost.
        conversations.start_turn(conn, conversation, "lost", max_turns=50)
        conn.commit()
    client.send({"type": "message", "conversation_id": conversation, "content": "blocked?"})
    assert client.until_type("error")[-1]["code"] == "TURN_IN_PROGRESS"
    client.send({"type": "cancel", "conversation_id": conversation})
    cancelled = client.until_type("cancelled")[-1]
    assert cancelled["conversation_id"] == conversation and "message_id" in cancelled
    llm.reply_text("free again")
    assert client.ask(conversation, "now?")[-1]["type"] == "done"


def test_provider_failure_after_a_tool_round_keeps_the_tool_work(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT 1 AS one", "description": "one"}}])
    llm.reply_error(500, "upstream broke")
    assert client.ask(conversation, "one?")[-1]["code"] == "PROVIDER_ERROR"
    roles = [r[0] for r in owner_conn.execute(
        "select role from ai.messages where conversation_id = %s order by ordinal", (conversation,)).fetchall()]
    assert roles == ["user", "assistant", "tool"]
    status = owner_conn.execute("select status, error_code from ai.turns where conversation_id = %s",
                                (conversation,)).fetchone()
    assert status == ("error", "PROVIDER_ERROR")


def test_the_next_turn_sees_the_tool_work_of_a_failed_turn(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": "SELECT 2 AS two", "description": "two"}}])
    llm.reply_error(500, "upstream broke")
    assert client.ask(conversation, "two?")[-1]["code"] == "PROVIDER_ERROR"
    llm.reply_text("It was two.")
    assert client.ask(conversation, "and now?")[-1]["type"] == "done"
    roles = [m["role"] for m in llm.last_request().messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
