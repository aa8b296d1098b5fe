"""The socket is killed under a running turn: the chat reconnects with backoff, resumes from the last
seq it saw, and the caller gets every event exactly once."""
from __future__ import annotations

import socket
import threading

import pytest
from fluxbase_sdk import ConnectionError, Content, Done

from tests.support.processes import wait_until

TEXT = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"


def kill_socket(chat) -> None:
    """What a dead network does: the TCP connection goes, with no WebSocket close."""
    chat._ws.sock.shutdown(socket.SHUT_RDWR)


def assert_once_each(events) -> None:
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)), seqs
    assert sum(isinstance(e, Done) for e in events) == 1


def test_a_socket_killed_mid_turn_is_reopened_and_the_answer_arrives_whole(open_chat, llm):
    states, contents = [], []
    reconnected = threading.Event()

    def on_connection(state, info):
        states.append(state)
        if state == "reconnected":
            reconnected.set()

    chat = open_chat(on_connection=on_connection, on_content=lambda delta, cid: contents.append(delta))
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held(TEXT, after_chunks=3, chunks=8)
    turn = chat.ask(cid, "count", timeout=20)
    first = next(e for e in turn if isinstance(e, Content))
    assert llm.wait_for_held(1)
    kill_socket(chat)
    assert reconnected.wait(15), states
    gate.open()  # the rest is streamed while or after the chat re-attached
    turn.wait()
    assert turn.text == TEXT and "".join(contents) == TEXT
    assert first.delta and TEXT.startswith(first.delta)
    assert_once_each(turn.events)
    assert states[:3] == ["connected", "reconnecting", "reconnected"]


def test_events_streamed_while_the_socket_was_down_are_replayed_once(open_chat, llm, owner_conn, monkeypatch):
    import fluxbase_sdk.chat as chat_module

    allowed = threading.Event()
    real_open = chat_module.open_socket

    def open_when_allowed(*args, **kwargs):
        assert allowed.wait(20), "the test never let the chat reconnect"
        return real_open(*args, **kwargs)

    chat = open_chat()
    monkeypatch.setattr(chat_module, "open_socket", open_when_allowed)  # reconnects only, from here
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held(TEXT, after_chunks=3, chunks=8)
    turn = chat.ask(cid, "count", timeout=20)
    next(e for e in turn if isinstance(e, Content))
    assert llm.wait_for_held(1)
    kill_socket(chat)
    gate.open()
    # The whole rest of the turn is published while no socket of ours is there to get it.
    wait_until(lambda: owner_conn.execute("select status from ai.turns where conversation_id = %s",
                                          (cid,)).fetchone()[0] == "done", 20, "the turn's end")
    allowed.set()
    turn.wait()
    assert turn.text == TEXT
    assert_once_each(turn.events)


def test_repeated_kills_during_a_stream_lose_and_repeat_nothing(open_chat, llm):
    kills = {3, 7, 11}
    count = 0
    chat = None

    def on_content(delta, cid):
        nonlocal count
        count += 1
        if count in kills:
            kill_socket(chat)  # from the reader thread itself, between two frames

    chat = open_chat(on_content=on_content)
    cid = chat.start_chat("shop", "tests")
    llm.reply_slow(TEXT, 0.03, chunks=16)
    turn = chat.ask(cid, "count slowly", timeout=20)
    turn.wait()
    assert turn.text == TEXT
    assert_once_each(turn.events)


def test_frames_sent_while_reconnecting_wait_for_the_new_socket(open_chat, llm):
    reconnecting = threading.Event()
    chat = open_chat(on_connection=lambda state, info: state == "reconnecting" and reconnecting.set())
    cid = chat.start_chat("shop", "tests")
    kill_socket(chat)
    assert reconnecting.wait(10)
    llm.reply_text("After the reconnect.")
    turn = chat.ask(cid, "are you there?", timeout=20)
    assert turn.wait().type == "done" and turn.text == "After the reconnect."


def test_without_reconnects_a_lost_socket_ends_the_turn_with_an_error(open_chat, llm):
    states = []
    chat = open_chat(reconnect_attempts=0, on_connection=lambda state, info: states.append(state))
    cid = chat.start_chat("shop", "tests")
    gate = llm.reply_held("never seen whole", after_chunks=2, chunks=4)
    turn = chat.ask(cid, "hi", timeout=20)
    assert llm.wait_for_held(1)
    kill_socket(chat)
    with pytest.raises(ConnectionError) as lost:
        turn.wait()
    assert "could not reconnect" in str(lost.value)
    assert chat.state == "failed" and states[-1] == "failed"
    gate.open()


def test_a_replay_of_what_was_already_delivered_is_dropped(open_chat, llm, monkeypatch):
    from fluxbase_sdk.chat import Chat

    deltas = []
    reconnected = threading.Event()
    chat = open_chat(on_content=lambda delta, cid: deltas.append(delta),
                     on_connection=lambda state, info: state == "reconnected" and reconnected.set())
    cid = chat.start_chat("shop", "tests")
    llm.reply_text("First answer.")
    chat.ask(cid, "one", timeout=20).wait()
    real = Chat._resume_frame

    def from_the_start(conversation_id, followed):
        return {**real(conversation_id, followed), "last_seq": 0}  # the server replays the whole turn

    monkeypatch.setattr(Chat, "_resume_frame", staticmethod(from_the_start))
    kill_socket(chat)
    assert reconnected.wait(15)
    llm.reply_text("Second answer.")
    turn = chat.ask(cid, "two", timeout=20)
    turn.wait()
    assert "".join(deltas) == "First answer.Second answer."
    assert turn.text == "Second answer."
