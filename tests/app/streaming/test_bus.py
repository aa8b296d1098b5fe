"""The stream bus against the real Redis: numbering, replay of the latest turn, bounded buffers."""
import uuid

from app.streaming.bus import Replay, StreamBus


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
