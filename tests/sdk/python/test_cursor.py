"""The cursor's rules on their own: what is delivered once, what position a resume sends."""
from fluxbase_sdk.cursor import Cursor


def event(kind, seq=None, message_id="m1", **extra):
    return {"type": kind, "seq": seq, "message_id": message_id, **extra}


def test_numbered_events_are_delivered_once_in_any_replay():
    cursor = Cursor()
    assert cursor.accept(event("content", 1, delta="a")) and cursor.accept(event("content", 2, delta="b"))
    assert not cursor.accept(event("content", 2, delta="b")) and not cursor.accept(event("content", 1))
    assert cursor.last_seq == 2 and cursor.turn_open
    assert cursor.accept(event("done", 3)) and not cursor.turn_open
    assert not cursor.accept(event("done", 3))


def test_chat_started_is_adopted_when_ahead_or_when_the_server_disbelieved_our_position():
    cursor = Cursor(10)
    cursor.started(8, sent_last_seq=10)   # the server could not believe 10: it numbers from 8
    assert cursor.last_seq == 8
    cursor.started(5, sent_last_seq=0)    # a resume from further back keeps what we have seen
    assert cursor.last_seq == 8
    cursor.started(12, sent_last_seq=8)
    assert cursor.last_seq == 12


def test_unnumbered_socket_events_always_pass_and_a_recovered_ending_only_once():
    cursor = Cursor(5)
    assert cursor.accept({"type": "error", "seq": 5, "code": "TURN_IN_PROGRESS"})  # a refusal: no message id
    assert cursor.accept(event("events_lost", 5))
    assert cursor.accept(event("done", 5, recovered=True, content="whole"))          # seq of what it follows
    assert not cursor.accept(event("done", 9, recovered=True, content="whole"))
    assert not cursor.accept(event("done", 9))
