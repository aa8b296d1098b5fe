"""The chat against the live server: the documented callbacks, the ask() iterator, cancel,
disconnect and the refusals a caller must be able to tell apart."""
from __future__ import annotations

import threading

import pytest
from fluxbase_sdk import (
    AuthError,
    Cancelled,
    ChatStarted,
    ConflictError,
    ConnectionError,
    Content,
    Done,
    Error,
    NotFoundError,
    Progress,
    QueryResult,
    create_client,
)

from tests.conftest import ALICE, BOB, token_for

SQL = "SELECT id, total FROM orders ORDER BY id LIMIT 3"


def script_query_answer(llm, text="You have three orders."):
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": SQL, "description": "my orders"}}])
    llm.reply_text(text)


def test_the_documented_callbacks_get_their_parameters_in_fluxbases_order(open_chat, llm, test_chatbots):
    calls: list[tuple] = []
    ended = threading.Event()
    chat = open_chat(
        on_content=lambda delta, cid: calls.append(("content", delta, cid)),
        on_progress=lambda step, message, cid: calls.append(("progress", step, message, cid)),
        on_query_result=lambda query, summary, rows, data, cid: calls.append(("query", query, summary, rows, data, cid)),
        on_done=lambda usage, cid: (calls.append(("done", usage, cid)), ended.set()),
        on_error=lambda error, code, cid: calls.append(("error", error, code, cid)),
    )
    cid = chat.start_chat("shop")  # the namespace ("tests") is found by name, as Fluxbase's SDK does
    script_query_answer(llm)
    chat.send_message(cid, "Show my orders")
    assert ended.wait(20), calls
    assert {c[-1] for c in calls} == {cid}
    assert "".join(c[1] for c in calls if c[0] == "content") == "You have three orders."
    [query] = [c for c in calls if c[0] == "query"]
    assert query[1] == SQL and query[3] == 3 and [row["id"] for row in query[4]] == [1, 2, 3] and query[2]
    assert ("progress", "thinking") in [c[:2] for c in calls]
    assert calls[-1][0] == "done" and calls[-1][1]["total_tokens"] > 0
    assert not [c for c in calls if c[0] == "error"]


def test_a_callback_with_one_more_parameter_also_gets_the_typed_event(open_chat, llm):
    seen = []
    done = threading.Event()
    chat = open_chat(on_query_result=lambda q, s, n, data, cid, event: seen.append(event),
                     on_done=lambda usage, cid: done.set())
    cid = chat.start_chat("shop", "tests")
    script_query_answer(llm)
    chat.send_message(cid, "Show my orders")
    assert done.wait(20)
    [event] = seen
    assert isinstance(event, QueryResult) and event.truncated is False and event.message_id


def test_ask_yields_typed_events_of_one_turn_and_ends_with_its_ending(open_chat, llm):
    every = []
    chat = open_chat(on_event=every.append)
    cid = chat.start_chat("shop", "tests")
    assert isinstance(every[0], ChatStarted) and every[0].conversation_id == cid and not every[0].resumed
    script_query_answer(llm)
    turn = chat.ask(cid, "Show my orders", timeout=20)
    kinds = [type(event) for event in turn]
    assert kinds[0] is Progress and kinds[-1] is Done and kinds.count(Done) == 1
    assert QueryResult in kinds and Content in kinds
    assert turn.text == "You have three orders."
    assert turn.ending is turn.events[-1] and turn.done
    [result] = turn.query_results
    assert result.query == SQL and result.row_count == 3
    seqs = [event.seq for event in turn.events]
    assert seqs == sorted(set(seqs))  # numbered, increasing, none twice
    # The callbacks saw the same events.
    assert [e.seq for e in every if e.conversation_id == cid and not isinstance(e, ChatStarted)] == seqs
    # A second turn in the same conversation.
    llm.reply_text("Still three.")
    assert chat.ask(cid, "And now?", timeout=20).wait().type == "done"


def test_ask_works_with_async_for(open_chat, llm):
    import asyncio

    chat = open_chat()
    llm.reply_text("Hello from asyncio.")

    async def main():
        cid = await chat.astart_chat("shop", "tests")
        return [event async for event in chat.ask(cid, "hi", timeout=20)]

    got = asyncio.run(main())
    assert "".join(e.delta for e in got if isinstance(e, Content)) == "Hello from asyncio."
    assert isinstance(got[-1], Done)


def test_cancel_stops_a_held_turn_and_keeps_the_socket(open_chat, llm):
    cancelled = []
    chat = open_chat(on_cancelled=cancelled.append)
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held("A long answer that is never finished", after_chunks=2, chunks=6)
    turn = chat.ask(cid, "talk", timeout=20)
    first = next(event for event in turn if isinstance(event, Content))
    assert first.delta
    turn.cancel()
    ending = turn.wait()
    gate.open()
    assert isinstance(ending, Cancelled) and cancelled == [cid]
    assert turn.text and "A long answer that is never finished".startswith(turn.text)
    llm.reply_text("Back again.")
    assert chat.ask(cid, "again", timeout=20).wait().type == "done"


def test_disconnect_means_disconnect(open_chat, llm):
    states = []
    chat = open_chat(on_connection=lambda state, info: states.append(state))
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held("held", after_chunks=2, chunks=4)
    turn = chat.ask(cid, "wait", timeout=20)
    assert llm.wait_for_held(1)
    chat.disconnect()
    with pytest.raises(ConnectionError):
        list(turn)
    with pytest.raises(ConnectionError):
        chat.send_message(cid, "anyone?")
    assert chat.state == "closed" and states == ["connected", "disconnected"]
    gate.open()
    # Reconnecting is the reader thread's job, and disconnect() has ended it: nothing can reopen
    # a socket behind the caller's back.
    assert chat._reader is not None and not chat._reader.is_alive()
    assert chat.state == "closed" and states == ["connected", "disconnected"]


def test_refusals_raise_typed_errors(open_chat, web, llm):
    chat = open_chat()
    with pytest.raises(NotFoundError) as missing:
        chat.start_chat("no-such-bot", "tests")
    assert missing.value.code == "CHATBOT_NOT_FOUND" and str(missing.value.message) == "Chatbot not found or disabled"
    with pytest.raises(ConflictError) as no_session:
        chat.send_message("00000000-0000-4000-8000-000000000000", "hi")
    assert no_session.value.code == "NO_SESSION"
    anonymous = open_chat(None)
    with pytest.raises(AuthError) as required:
        anonymous.start_chat("shop", "tests")
    assert required.value.code == "AUTH_REQUIRED"
    assert anonymous.start_chat("shop-anon", "tests")
    with pytest.raises(AuthError) as bad_token:
        create_client(web).ai.create_chat(token="not-a-jwt").connect()
    assert bad_token.value.status == 401 and bad_token.value.code == "AUTH_INVALID"
    # Another user cannot resume alice's conversation.
    cid = chat.start_chat("shop", "tests")
    with pytest.raises(NotFoundError) as foreign:
        open_chat(BOB).start_chat("shop", "tests", conversation_id=cid)
    assert foreign.value.code == "CONVERSATION_NOT_FOUND"


def test_a_turn_limit_ends_the_turn_with_a_typed_error(open_chat, llm):
    chat = open_chat()
    cid = chat.start_chat("shop-short", "tests")
    llm.reply_text("The one answer.")
    assert chat.ask(cid, "one", timeout=20).wait().type == "done"
    ending = chat.ask(cid, "two", timeout=20).wait()
    assert isinstance(ending, Error) and ending.code == "TURN_LIMIT" and ending.error == "Conversation turn limit reached"


def test_a_message_while_a_turn_runs_is_refused_without_mixing_the_turns(open_chat, llm):
    chat = open_chat()
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held("first answer", after_chunks=2, chunks=4)
    first = chat.ask(cid, "first", timeout=20)
    assert isinstance(next(e for e in first if isinstance(e, Content)), Content)
    second = chat.ask(cid, "second", timeout=20)
    refusal = second.wait()
    assert isinstance(refusal, Error) and refusal.code == "TURN_IN_PROGRESS"
    assert not [e for e in second.events if isinstance(e, Content)]
    gate.open()
    assert first.wait().type == "done" and first.text == "first answer"


def test_resuming_a_conversation_on_a_new_chat_replays_nothing_already_seen(open_chat, llm):
    chat = open_chat()
    cid = chat.start_chat("shop", "tests")
    llm.reply_text("Seen once.")
    chat.ask(cid, "hello", timeout=20).wait()
    position = chat.last_seq(cid)
    chat.disconnect()
    later = []
    again = open_chat(ALICE, on_event=later.append)
    assert again.start_chat("shop", "tests", conversation_id=cid, last_seq=position) == cid
    assert isinstance(later[0], ChatStarted) and later[0].resumed and later[0].seq == position
    llm.reply_text("Seen twice?")
    turn = again.ask(cid, "again", timeout=20)
    turn.wait()
    assert turn.text == "Seen twice?"
    assert not [e for e in later if isinstance(e, Content) and e.seq <= position]


def test_a_user_token_reads_its_own_conversations(client, open_chat, llm):
    chat = open_chat()
    cid = chat.start_chat("shop", "tests")
    llm.reply_text("Noted.")
    chat.ask(cid, "remember this", timeout=20).wait()
    client.set_auth_token(token_for(ALICE))
    assert cid in [c["id"] for c in client.ai.list_conversations(chatbot="shop", namespace="tests", limit=50)
                   ["conversations"]]
    detail = client.ai.get_conversation(cid)
    assert [m["role"] for m in detail["messages"]][:2] == ["user", "assistant"]
    assert client.ai.rename_conversation(cid, "Kept")["title"] == "Kept"
    assert client.ai.get_messages(cid)["total"] >= 2
    client.ai.delete_conversation(cid)
    with pytest.raises(NotFoundError):
        client.ai.get_conversation(cid)
    client.set_auth_token(None)
    with pytest.raises(AuthError):
        client.ai.list_conversations()  # the anon key owns nothing
