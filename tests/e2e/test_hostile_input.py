"""What a clumsy or hostile client sends, over a real socket: every bad frame gets its own code, the
socket stays usable, and nothing reaches PostgreSQL or the JSON parser that they cannot take."""
import json
import threading
import time
import uuid

import pytest

from app.auth.tokens import mint
from tests.conftest import ALICE, BOB, TEST_SECRET


def content(events):
    return "".join(e["delta"] for e in events if e["type"] == "content")


@pytest.mark.parametrize("build,code", [
    (lambda c: json.dumps({"type": "message", "conversation_id": c, "content": "a\x00b"}), "INVALID_MESSAGE"),
    # A lone surrogate only exists as a JSON escape; json.dumps would refuse to write the raw character.
    (lambda c: '{"type": "message", "conversation_id": "%s", "content": "x \\ud800 y"}' % c, "INVALID_MESSAGE"),
    (lambda c: '{"type": "message", "conversation_id": "%s", "content": "ok", "extra": %s}'
     % (c, "[" * 20000 + "]" * 20000), "INVALID_MESSAGE"),
    (lambda c: "[" * 20000 + "]" * 20000, "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "start_chat", "chatbot": "shop\x00", "namespace": "tests"}), "INVALID_MESSAGE"),
    (lambda c: '{"type": "start_chat", "chatbot": "sh\\ud83dop", "namespace": "tests"}', "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "start_chat", "chatbot": "../../etc", "namespace": "tests"}), "CHATBOT_NOT_FOUND"),
    (lambda c: json.dumps({"type": "start_chat", "chatbot": "shop", "namespace": "tests", "conversation_id": c,
                           "last_seq": 10**30}), "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "start_chat", "chatbot": "shop", "namespace": "tests", "last_seq": 1.5}),
     "INVALID_MESSAGE"),
    (lambda c: '{"type": "start_chat", "chatbot": "shop", "namespace": "tests", "last_seq": 1%s}' % ("0" * 5000),
     "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "cancel", "conversation_id": c + "\x00"}), "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "auth"}), "INVALID_MESSAGE"),
    (lambda c: json.dumps({"type": "auth", "token": "not-a-jwt"}), "AUTH_INVALID"),
])
def test_bad_frames_get_their_code_and_the_socket_stays_usable(chat, llm, build, code):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    client.send(build(conversation))
    error = client.until_type("error")[-1]
    assert error["code"] == code, error
    llm.reply_text("still fine")
    assert client.ask(conversation, "are you there?")[-1]["type"] == "done"


def test_a_last_seq_ahead_of_the_server_does_not_hide_the_next_turn(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_text("first")
    first = client.ask(conversation, "one")
    again = chat()
    resumed = again.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=10**9)
    assert resumed["type"] == "chat_started" and resumed["seq"] == first[-1]["seq"]
    llm.reply_text("second answer")
    events = again.ask(conversation, "two")
    assert content(events) == "second answer" and events[0]["seq"] == first[-1]["seq"] + 1


def test_an_expired_conversation_takes_no_more_turns_on_a_socket_already_attached(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    owner_conn.execute("update ai.conversations set expires_at = now() - interval '1 second' where id = %s",
                       (conversation,))
    client.send({"type": "message", "conversation_id": conversation, "content": "still there?"})
    error = client.until_type("error")[-1]
    assert error["code"] == "CONVERSATION_NOT_FOUND" and error["conversation_id"] == conversation
    stored = owner_conn.execute("select count(*) from ai.messages where conversation_id = %s",
                                (conversation,)).fetchone()[0]
    assert stored == 0


def test_a_message_resent_every_few_ms_while_the_turn_finishes_never_gets_an_internal_error(chat, llm):
    """The worker closing a turn and a new message racing for the same conversation: TURN_IN_PROGRESS or
    a started turn, never a deadlock surfacing as INTERNAL_ERROR."""
    turns = 25
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    for i in range(turns - 1):
        llm.reply_text(f"answer {i}", chunks=2)
    last_gate = llm.reply_held("the last answer", after_chunks=1)  # keeps the last turn running
    stop = threading.Event()
    sent = [0]  # frames sent; only the sender thread counts
    frame = json.dumps({"type": "message", "conversation_id": conversation, "content": "again"})

    def spam():
        while not stop.is_set():
            client.ws.send(frame)
            sent[0] += 1
            stop.wait(0.004)

    sender = threading.Thread(target=spam, daemon=True)
    sender.start()
    codes, dones, thinking = [], 0, 0

    def take(event):
        nonlocal dones, thinking
        if event["type"] == "error":
            codes.append(event["code"])
        elif event["type"] == "progress" and event["step"] == "thinking":
            thinking += 1
        elif event["type"] == "done":
            dones += 1

    deadline = time.monotonic() + 60
    try:
        while thinking < turns and time.monotonic() < deadline:
            take(client.recv(30))
    finally:
        stop.set()
        sender.join(5)
    # Every frame gets one answer, a refusal or a started turn. Wait for all of them while the last
    # turn is held: a frame still unanswered could start one more turn after it, outliving this test.
    while len(codes) + thinking < sent[0] and time.monotonic() < deadline:
        take(client.recv(30))
    assert len(codes) + thinking == sent[0] and thinking == turns
    assert llm.wait_for_held(1)
    last_gate.open()
    rest = client.until(lambda e: e["type"] == "done")
    codes += [e["code"] for e in rest if e["type"] == "error"]
    assert set(codes) <= {"TURN_IN_PROGRESS"} and codes, set(codes)
    assert dones + 1 == turns


def expiring_token(user, seconds_left: float) -> str:
    # The server accepts a token up to 10 s past its exp (clock skew), so "expires in N s" is
    # exp = now - 10 + N.
    return mint(TEST_SECRET, role="authenticated", user_id=user, ttl_seconds=int(-10 + seconds_left))


def wait_for_expiry(client, conversation):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        client.send({"type": "message", "conversation_id": conversation, "content": "x"})
        error = client.until_type("error")[-1]
        if error["code"] == "AUTH_EXPIRED":
            return error
        assert error["code"] == "TURN_IN_PROGRESS", error
    raise AssertionError("the token never expired")


def test_an_expired_token_stops_new_work_on_an_open_socket_and_a_fresh_one_resumes_it(web, test_chatbots, llm,
                                                                                      chat):
    from tests.support.chat_client import ChatClient

    client = ChatClient(web, expiring_token(ALICE, 2))
    try:
        conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
        gate = llm.reply_held("an answer that outlives the token", after_chunks=2)
        client.send({"type": "message", "conversation_id": conversation, "content": "long one"})
        assert llm.wait_for_held(1)
        error = wait_for_expiry(client, conversation)
        assert error["conversation_id"] == conversation
        assert client.start_chat("shop", namespace="tests")["code"] == "AUTH_EXPIRED"
        gate.open()  # the turn that was running when the token expired still finishes
        assert client.until_type("done")[-1]["conversation_id"] == conversation

        client.send({"type": "auth", "token": mint(TEST_SECRET, role="authenticated", user_id=BOB)})
        assert client.until_type("error")[-1]["code"] == "AUTH_INVALID"  # someone else's token
        fresh = mint(TEST_SECRET, role="authenticated", user_id=ALICE, ttl_seconds=600)
        client.send({"type": "auth", "token": fresh})
        renewed = client.until_type("authenticated", "error")[-1]
        assert renewed["type"] == "authenticated" and renewed["expires_at"] > time.time() + 500
        llm.reply_text("back again")
        assert content(client.ask(conversation, "hello again")) == "back again"
    finally:
        client.close()


def test_cancel_still_works_after_the_token_expired(web, test_chatbots, llm, chat):
    from tests.support.chat_client import ChatClient

    client = ChatClient(web, expiring_token(ALICE, 2))
    try:
        conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
        llm.reply_held("never finished", after_chunks=2)
        client.send({"type": "message", "conversation_id": conversation, "content": "go"})
        assert llm.wait_for_held(1)
        wait_for_expiry(client, conversation)
        client.send({"type": "cancel", "conversation_id": conversation})
        assert client.until_type("cancelled")[-1]["conversation_id"] == conversation
    finally:
        client.close()


def test_a_socket_cannot_follow_another_users_conversation_by_guessing_its_id(chat):
    alice = chat(ALICE)
    conversation = alice.start_chat("shop", namespace="tests")["conversation_id"]
    mallory = chat(BOB)
    mallory.send({"type": "message", "conversation_id": conversation, "content": "hi"})
    assert mallory.until_type("error")[-1]["code"] == "NO_SESSION"
    mallory.send({"type": "cancel", "conversation_id": str(uuid.UUID(conversation))})
    assert mallory.until_type("error")[-1]["code"] == "NO_SESSION"


def test_a_chatbot_deleted_during_a_turn_still_ends_the_turn_for_its_clients(chat, llm, database, web):
    import urllib.request

    from app.chatbots.sync_service import sync_payload
    from tests.conftest import TEST_CHATBOT, TEST_SERVICE_KEY

    code = TEST_CHATBOT.format(anon="false", max_turns=5, language="auto")
    report = sync_payload(database, namespace="tests-deleted", chatbots=[{"name": "doomed", "code": code}])
    assert not report.errors
    client = chat()
    conversation = client.start_chat("doomed", namespace="tests-deleted")["conversation_id"]
    gate = llm.reply_held("an answer nobody will keep", after_chunks=2)
    client.send({"type": "message", "conversation_id": conversation, "content": "hello"})
    assert llm.wait_for_held(1)
    listing = urllib.request.Request(f"{web}/api/v1/admin/ai/chatbots?namespace=tests-deleted",
                                     headers={"X-Service-Key": TEST_SERVICE_KEY})
    with urllib.request.urlopen(listing, timeout=10) as response:
        chatbot_id = json.loads(response.read())["chatbots"][0]["id"]
    delete = urllib.request.Request(f"{web}/api/v1/admin/ai/chatbots/{chatbot_id}", method="DELETE",
                                    headers={"X-Service-Key": TEST_SERVICE_KEY})
    with urllib.request.urlopen(delete, timeout=10) as response:
        assert response.status == 204
    gate.open()
    ending = client.until_type("done", "error", "cancelled")[-1]
    assert ending["type"] == "error" and ending["code"] == "CONVERSATION_NOT_FOUND", ending
    client.send({"type": "message", "conversation_id": conversation, "content": "again?"})
    assert client.until_type("error")[-1]["code"] == "CONVERSATION_NOT_FOUND"


def test_a_model_asking_for_dozens_of_queries_in_one_round_gets_sixteen(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": f"SELECT {i} AS n", "description": f"q{i}"}}
                          for i in range(20)])
    llm.reply_text("Enough.")
    events = client.ask(conversation, "run twenty queries")
    assert len([e for e in events if e["type"] == "query_result"]) == 16 and events[-1]["type"] == "done"
    tool_texts = [m["content"] for m in llm.last_request().messages if m["role"] == "tool"]
    assert len(tool_texts) == 20
    assert sum("at most 16 tool calls" in text for text in tool_texts) == 4


def test_a_model_writing_characters_postgresql_refuses_gets_its_turn_stored_once(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql\x00", "id": "call\x00x",
                           "arguments": '{"sql": "SELECT \\u0000 1", "description": "\\ud800"}'}])
    llm.reply_text("nul \x00 and a lone \ud800 surrogate")
    events = client.ask(conversation, "break storage")
    assert events[-1]["type"] == "done", events[-1]
    assert content(events) == "nul \ufffd and a lone \ufffd surrogate"
    stored = owner_conn.execute("select role, content from ai.messages where conversation_id = %s and role = "
                                "'assistant' and tool_calls is null", (conversation,)).fetchall()
    attempts = owner_conn.execute("select attempts from ai.turns where conversation_id = %s",
                                  (conversation,)).fetchone()[0]
    assert stored == [("assistant", "nul \ufffd and a lone \ufffd surrogate")] and attempts == 1


def test_sql_with_a_lone_surrogate_runs_with_a_replacement_character_and_is_audited(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql",
                           "arguments": '{"sql": "SELECT \'\\ud800\' AS s", "description": "x"}'}])
    llm.reply_text("done")
    events = client.ask(conversation, "surrogate sql")
    result = next(e for e in events if e["type"] == "query_result")
    assert result["data"] == [{"s": "\ufffd"}] and events[-1]["type"] == "done"
    audited = owner_conn.execute("select verdict, sql from ai.sql_audit where conversation_id = %s",
                                 (conversation,)).fetchall()
    assert audited == [("executed", "SELECT '\ufffd' AS s")]


def test_resuming_a_turn_of_thousands_of_deltas_from_its_start_delivers_it_whole(chat, llm):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    text = "".join(f"{i % 10}" for i in range(3000))
    llm.reply_text(text, chunks=3000)
    assert content(client.ask(conversation, "long", timeout=60)) == text
    again = chat()
    resumed = again.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=0)
    assert resumed["type"] == "chat_started"
    replayed = again.until_type("done", timeout=30)
    # Queued faster than the client reads, the deltas were merged in the socket's queue instead of
    # overrunning it.
    assert content(replayed) == text and len(replayed) < 3000


def test_a_token_of_another_role_for_the_same_user_cannot_take_over_a_conversation(web, chat, llm):
    from tests.support.chat_client import ChatClient

    alice = chat(ALICE)
    conversation = alice.start_chat("shop-anon", namespace="tests")["conversation_id"]
    anon_alice = ChatClient(web, mint(TEST_SECRET, role="anon", user_id=ALICE))
    try:
        taken = anon_alice.start_chat("shop-anon", namespace="tests", conversation_id=conversation)
        assert taken["type"] == "error" and taken["code"] == "CONVERSATION_NOT_FOUND"
    finally:
        anon_alice.close()


def test_a_socket_follows_at_most_twenty_conversations_resumed_ones_included(chat):
    owner = chat()
    conversations = [owner.start_chat("shop", namespace="tests")["conversation_id"] for _ in range(20)]
    assert owner.start_chat("shop", namespace="tests")["code"] == "INVALID_MESSAGE"  # a 21st new one
    other = chat()
    for conversation in conversations[:20]:
        assert other.start_chat("shop", namespace="tests", conversation_id=conversation)["type"] == "chat_started"
    again = other.start_chat("shop", namespace="tests", conversation_id=conversations[0])
    assert again["type"] == "chat_started"  # re-attaching one it already follows is not one more
    owner_two = chat()
    extra = owner_two.start_chat("shop", namespace="tests")["conversation_id"]
    refused = other.start_chat("shop", namespace="tests", conversation_id=extra)
    assert refused["type"] == "error" and refused["code"] == "INVALID_MESSAGE"


def test_a_message_for_a_chatbot_disabled_since_the_socket_attached_is_refused_and_not_stored(chat, owner_conn):
    client = chat()
    conversation = client.start_chat("shop-german", namespace="tests")["conversation_id"]
    owner_conn.execute("update ai.chatbots set enabled = false where namespace = 'tests' and name = 'shop-german'")
    try:
        client.send({"type": "message", "conversation_id": conversation, "content": "hallo?"})
        error = client.until_type("error")[-1]
        assert error["code"] == "CHATBOT_NOT_FOUND" and error["conversation_id"] == conversation
        stored = owner_conn.execute("select count(*) from ai.messages where conversation_id = %s",
                                    (conversation,)).fetchone()[0]
        assert stored == 0
    finally:
        owner_conn.execute("update ai.chatbots set enabled = true where namespace = 'tests' and name = 'shop-german'")


def test_null_for_an_optional_field_means_absent(chat):
    client = chat()
    client.send({"type": "start_chat", "chatbot": "sql-assistant", "namespace": None, "conversation_id": None,
                 "last_seq": None})
    assert client.until_type("chat_started", "error")[-1]["type"] == "chat_started"


def test_a_huge_sql_argument_of_the_wrong_type_is_echoed_capped(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    huge = "x" * 1_000_000
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": [huge], "description": "list"}}])
    llm.reply_text("no")
    events = client.ask(conversation, "huge")
    result = next(e for e in events if e["type"] == "query_result")
    assert result["error"] == "`sql` must be a non-empty string" and len(result["query"]) <= 20_001
    audited = owner_conn.execute("select length(sql) from ai.sql_audit where conversation_id = %s",
                                 (conversation,)).fetchone()[0]
    assert audited <= 20_001


def test_token_counts_past_what_postgresql_counts_do_not_lose_the_answer(chat, llm, owner_conn):
    # A user of its own: the absurd usage is charged to the day's token budget, which it exhausts.
    client = chat(user_id=str(uuid.uuid4()))
    conversation = client.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_text("an answer with absurd usage", usage=(2**40, 2**40))
    events = client.ask(conversation, "count")
    assert events[-1]["type"] == "done" and content(events) == "an answer with absurd usage"
    stored = owner_conn.execute("select t.attempts, t.prompt_tokens, m.content from ai.turns t join ai.messages m "
                                "on m.id = t.assistant_message_id where t.conversation_id = %s",
                                (conversation,)).fetchone()
    assert stored == (1, 2**31 - 1, "an answer with absurd usage")
