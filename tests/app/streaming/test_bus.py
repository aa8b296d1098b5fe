"""The stream bus against the real Redis: numbering, replay of the latest turn, bounded buffers."""
import json
import time
import uuid

from app import protocol
from app.streaming.bus import Replay, StreamBus, channel_name, live_message, replay_copy
from tests.support.processes import wait_until


def test_publish_numbers_events_and_replay_returns_the_latest_turn(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60)
    conv = str(uuid.uuid4())
    assert bus.publish(conv, {"type": "progress"}, turn_start=True) == 1
    bus.publish(conv, {"type": "done"})
    assert bus.current_seq(conv) == 2
    assert bus.publish(conv, {"type": "progress"}, turn_start=True) == 3
    bus.publish(conv, {"type": "content", "delta": "a"})
    bus.publish(conv, {"type": "done", "usage": {}})
    assert [e["seq"] for e in bus.replay(conv, None).events] == [3, 4, 5]
    assert [e["seq"] for e in bus.replay(conv, 0).events] == [3, 4, 5]
    assert [e["seq"] for e in bus.replay(conv, 3).events] == [4, 5]
    assert bus.replay(conv, 5) == Replay([], True)
    assert bus.replay(conv, 4).events[0] == {"seq": 5, "conversation_id": conv, "type": "done", "usage": {}}
    assert [e["seq"] for e in bus.range(conv, 1)] == [3, 4, 5]  # a new turn trims the one before
    assert client.ttl(f"fluxbase:conv:{{{conv}}}:events") > 0


def test_a_forgotten_counter_restarts_from_the_floor(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60)
    conv = str(uuid.uuid4())
    assert bus.publish(conv, {"type": "progress"}, turn_start=True, floor=41) == 42
    assert bus.publish(conv, {"type": "done"}, floor=0) == 43  # the floor only seeds a missing counter


def test_replay_buffer_is_bounded(client):
    bus = StreamBus(client, max_events=10, ttl_seconds=60)
    conv = str(uuid.uuid4())
    bus.publish(conv, {"type": "progress"}, turn_start=True)
    for _ in range(500):
        bus.publish(conv, {"type": "content", "delta": "x"})
    kept = bus.range(conv, 1)
    assert len(kept) < 200 and kept[-1]["seq"] == 501


def _rows(n: int) -> list[dict]:
    # Non-ASCII text too: the limit counts bytes of JSON as stored, where it is escaped.
    return [{"id": i, "name": f"kunde {i} \u00e9t\u00e9", "notes": "x" * (i % 50)} for i in range(n)]


def _json_bytes(value) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _subscribe(pubsub, conv: str) -> None:
    pubsub.subscribe(channel_name(conv))
    wait_until(lambda: (m := pubsub.get_message(timeout=0.1)) and m["type"] == "subscribe", 5, "the subscription")


def _received(pubsub, count: int) -> list[str]:
    """The bodies of the next `count` live messages (without the publish time in front)."""
    bodies: list[str] = []

    def more() -> bool:
        message = pubsub.get_message(timeout=0.1)
        if message and message["type"] == "message":
            bodies.append(live_message(message["data"]).raw)
        return len(bodies) >= count

    wait_until(more, 5, f"{count} live messages")
    return bodies


def _stream_body(client, conv: str, seq: int) -> str:
    [(_id, fields)] = client.xrange(f"fluxbase:conv:{{{conv}}}:events", f"{seq}-0", f"{seq}-0")
    return fields["e"]


def test_a_large_query_result_goes_live_whole_and_is_kept_for_replay_with_the_rows_that_fit(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60, replay_result_bytes=4096)
    conv = str(uuid.uuid4())
    rows = _rows(500)
    assert _json_bytes(rows) > 8 * 4096
    with client.pubsub() as pubsub:
        _subscribe(pubsub, conv)
        bus.publish(conv, {"type": "progress"}, turn_start=True)
        result = protocol.query_result("select * from t", summary="Returned 500 rows", row_count=500, data=rows)
        seq = bus.publish(conv, {**result, "message_id": "m1"})
        live = [json.loads(body) for body in _received(pubsub, 2)]
    assert [e["seq"] for e in live] == [1, seq]
    assert live[1]["data"] == rows and "replay_truncated" not in live[1] and live[1]["truncated"] is False

    kept = json.loads(_stream_body(client, conv, seq))  # the stored text is valid JSON
    n = kept["rows_kept"]
    assert kept["replay_truncated"] is True and kept["truncated"] is True
    assert 0 < n < 500 and kept["data"] == rows[:n]  # whole rows, in order
    assert _json_bytes(kept["data"]) <= 4096 < _json_bytes(rows[:n + 1])  # as many as fit
    assert kept["row_count"] == 500 and kept["query"] == "select * from t" and kept["message_id"] == "m1"
    assert kept["seq"] == seq and kept["summary"] == "Returned 500 rows"
    assert bus.replay(conv, None).events[1] == kept
    assert len(_stream_body(client, conv, seq)) < 4096 + 500


def test_events_that_fit_are_kept_exactly_as_sent(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60, replay_result_bytes=4096)
    conv = str(uuid.uuid4())
    rows = _rows(20)
    assert _json_bytes(rows) < 4096
    events = [protocol.query_result("select 1", summary="Returned 20 rows", row_count=20, data=rows),
              # Not query results: kept whole whatever their size (TURN_RESULT_BYTES bounds them).
              protocol.tool_result("search", data=_rows(500)),
              protocol.content("y" * 10000)]
    with client.pubsub() as pubsub:
        _subscribe(pubsub, conv)
        seqs = [bus.publish(conv, event, turn_start=i == 0) for i, event in enumerate(events)]
        live = _received(pubsub, len(events))
    assert live == [_stream_body(client, conv, seq) for seq in seqs]
    assert json.loads(live[0])["data"] == rows and "replay_truncated" not in json.loads(live[0])


def test_a_row_larger_than_the_limit_leaves_none_for_replay(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60, replay_result_bytes=1024)
    conv = str(uuid.uuid4())
    rows = [{"blob": "z" * 5000}, {"id": 2}]
    seq = bus.publish(conv, protocol.query_result("select blob", row_count=2, data=rows), turn_start=True)
    kept = bus.range(conv, seq)[0]
    assert kept["data"] == [] and kept["rows_kept"] == 0 and kept["replay_truncated"] is True
    assert kept["row_count"] == 2


def test_replay_copy_keeps_results_that_fit_as_they_are():
    rows = _rows(10)
    result = protocol.query_result("select 1", row_count=10, data=rows)
    assert replay_copy(result, _json_bytes(rows)) is None  # exactly at the limit still fits
    trimmed = replay_copy(result, _json_bytes(rows) - 1)
    assert trimmed["rows_kept"] == 9 and trimmed["data"] == rows[:9]
    assert replay_copy(protocol.query_result("select 1", error="Permission denied"), 0) is None
    assert result["data"] == rows  # the live event is never changed


def test_live_messages_carry_the_publish_time_which_the_relay_takes_off(client):
    bus = StreamBus(client, max_events=100, ttl_seconds=60)
    conv = str(uuid.uuid4())
    with client.pubsub() as pubsub:
        _subscribe(pubsub, conv)
        before = time.time()
        bus.publish(conv, {"type": "content", "delta": "hi"}, turn_start=True)
        message = wait_until(lambda: (m := pubsub.get_message(timeout=0.1)) and m["type"] == "message" and m, 5,
                             "the live message")
    event = live_message(message["data"])
    assert before - 1 <= event.published_at <= time.time() + 1
    assert json.loads(event.raw) == {"seq": 1, "conversation_id": conv, "type": "content", "delta": "hi"}
    assert "published_at" not in event and event.raw == _stream_body(client, conv, 1)  # replay keeps no time
    assert live_message(event.raw).published_at is None  # a message without one is still read
