"""A socket's outbox: bounded, never blocks the relay, cuts off a client that falls behind."""
import threading

from app.chat.outbox import Outbox


def test_outbox_closes_a_client_that_falls_behind_without_blocking_the_caller():
    release = threading.Event()
    overflowed = threading.Event()
    sent = []

    def slow_send(text):
        release.wait(5)
        sent.append(text)

    outbox = Outbox(slow_send, overflowed.set, maxsize=5)
    for i in range(50):
        outbox.put({"n": i})  # never blocks, whatever the client does
    # Every put returned while the client was still stuck in its first send.
    assert sent == [] and overflowed.is_set() and outbox.closed
    release.set()


def test_a_slow_client_gets_merged_deltas_instead_of_being_cut_off():
    import json

    release = threading.Event()
    overflowed = threading.Event()
    sent = []
    first_send = threading.Event()

    def slow_send(text):
        first_send.set()
        release.wait(5)
        sent.append(json.loads(text))

    outbox = Outbox(slow_send, overflowed.set, maxsize=5)
    outbox.put({"type": "progress", "seq": 1, "message_id": "m", "conversation_id": "c"})
    assert first_send.wait(5)  # the sender is stuck in its first send; everything else queues
    for seq in range(2, 3002):
        outbox.put({"type": "content", "delta": "x", "seq": seq, "message_id": "m", "conversation_id": "c"})
    outbox.put({"type": "done", "seq": 3002, "message_id": "m", "conversation_id": "c", "usage": {}})
    assert not overflowed.is_set() and not outbox.closed
    release.set()
    deadline_hit = not _wait_for(lambda: len(sent) == 3)
    assert not deadline_hit, sent
    assert [(e["type"], e["seq"]) for e in sent] == [("progress", 1), ("content", 3001), ("done", 3002)]
    assert sent[1]["delta"] == "x" * 3000


def test_deltas_of_different_messages_are_not_merged():
    sent, gate = [], threading.Event()
    outbox = Outbox(lambda text: (gate.wait(5), sent.append(text)), lambda: None, maxsize=10)
    outbox.put({"type": "progress", "seq": 1, "message_id": "a", "conversation_id": "c"})
    outbox.put({"type": "content", "delta": "x", "seq": 2, "message_id": "a", "conversation_id": "c"})
    outbox.put({"type": "content", "delta": "y", "seq": 3, "message_id": "b", "conversation_id": "c"})
    gate.set()
    assert _wait_for(lambda: len(sent) == 3)


def _wait_for(predicate, timeout=5.0):
    from tests.support.processes import wait_until

    try:
        wait_until(predicate, timeout, "the sender")
        return True
    except TimeoutError:
        return False


def test_deltas_of_two_conversations_streaming_at_once_each_merge_into_their_own():
    import json

    release, first_send = threading.Event(), threading.Event()
    sent, overflowed = [], threading.Event()

    def slow_send(text):
        first_send.set()
        release.wait(5)
        sent.append(json.loads(text))

    outbox = Outbox(slow_send, overflowed.set, maxsize=10)
    outbox.put({"type": "progress", "seq": 0, "message_id": "a", "conversation_id": "c1"})
    assert first_send.wait(5)
    for seq in range(1, 2001):
        for conversation, message in (("c1", "a"), ("c2", "b")):
            outbox.put({"type": "content", "delta": message, "seq": seq, "message_id": message,
                        "conversation_id": conversation})
    assert not overflowed.is_set()
    release.set()
    assert _wait_for(lambda: len(sent) == 3)
    assert [(e["conversation_id"], e["seq"], len(e.get("delta", ""))) for e in sent] == [
        ("c1", 0, 0), ("c1", 2000, 2000), ("c2", 2000, 2000)]


def test_an_event_off_the_wire_is_sent_as_it_came_and_the_byte_count_returns_to_zero():
    import json

    from app.streaming.bus import WireEvent

    release, first_send = threading.Event(), threading.Event()
    sent = []

    def slow_send(text):
        first_send.set()
        release.wait(5)
        sent.append(text)

    outbox = Outbox(slow_send, lambda: None, maxsize=10)
    raw = '{"seq":1,"conversation_id":"c","type":"progress","message_id":"m"}'
    outbox.put(WireEvent(raw))
    assert first_send.wait(5)
    for seq in range(2, 502):
        outbox.put(WireEvent('{"seq":%d,"conversation_id":"c","type":"content","message_id":"m","delta":"ab"}' % seq))
    release.set()
    assert _wait_for(lambda: len(sent) == 2)
    assert sent[0] == raw  # not encoded again
    merged = json.loads(sent[1])
    assert merged["delta"] == "ab" * 500 and merged["seq"] == 501
    assert _wait_for(lambda: outbox._queued_bytes == 0)
