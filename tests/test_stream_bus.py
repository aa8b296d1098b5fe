"""The stream bus and the web-side relay, feed and outbox, against the real Redis."""
import threading
import uuid

import pytest
import redis

from app.chat.feed import Feed
from app.chat.outbox import Outbox
from app.streaming.bus import StreamBus, channel_name
from app.streaming.relay import Relay
from app.chat.repository import StoredMessage
from app.streaming.bus import Replay
from workers.prompt import HISTORY_CHAR_BUDGET, history_messages


@pytest.fixture
def client(redis_server):
    c = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield c
    c.close()


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


def test_relay_acknowledges_before_returning_so_nothing_is_lost(client, redis_server):
    relay = Relay.from_url(redis_server.url)
    bus = StreamBus(client)
    try:
        conv = str(uuid.uuid4())
        got = []
        arrived = threading.Event()

        class Listener:
            conversation_id = conv

            def on_live(self, event):
                got.append(event)
                if len(got) == 3:
                    arrived.set()

        listener = Listener()
        relay.subscribe(listener)
        assert client.pubsub_numsub(channel_name(conv))[0][1] == 1
        for _ in range(3):
            bus.publish(conv, {"type": "content", "delta": "x"})
        assert arrived.wait(5)
        assert [e["seq"] for e in got] == [1, 2, 3]
        relay.unsubscribe(listener)
    finally:
        relay.close()


def test_feed_holds_live_events_until_replay_is_delivered_and_drops_duplicates():
    delivered = []
    feed = Feed("c", delivered.append, lambda first, last: [], recover=lambda message_id: None)
    feed.on_live({"seq": 6})
    feed.on_live({"seq": 7})
    feed.go_live(Replay([{"seq": 4}, {"seq": 5}, {"seq": 6}], True), after_seq=3)
    feed.on_live({"seq": 7})
    feed.on_live({"seq": 8})
    assert [e["seq"] for e in delivered] == [4, 5, 6, 7, 8]


def test_feed_fetches_events_that_live_delivery_skipped():
    delivered, asked = [], []

    def fetch(first, last):
        asked.append((first, last))
        return [{"seq": n} for n in range(first, last + 1)]

    feed = Feed("c", delivered.append, fetch, recover=lambda message_id: None)
    feed.go_live(Replay([], True), after_seq=2)
    feed.on_live({"seq": 3})
    feed.on_live({"seq": 7})
    assert [e["seq"] for e in delivered] == [3, 4, 5, 6, 7] and asked == [(4, 6)]


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
    assert overflowed.is_set() and outbox.closed
    release.set()


def test_history_is_trimmed_to_whole_recent_turns():
    rows = []
    for i in range(40):
        rows.append(StoredMessage("user", f"question {i} " + "x" * 2000))
        rows.append(StoredMessage("assistant", "", [{"id": f"c{i}", "name": "execute_sql", "arguments": "{}"}]))
        rows.append(StoredMessage("tool", "r", tool_call_id=f"c{i}"))
        rows.append(StoredMessage("assistant", f"answer {i}"))
    kept = history_messages(rows)
    assert kept[0]["role"] == "user" and kept[-1]["content"] == "answer 39"
    assert 0 < len(kept) < len(rows) and len(kept) % 4 == 0
    assert sum(len(str(m)) for m in kept) <= HISTORY_CHAR_BUDGET * 1.2
    tool_ids = {m["tool_call_id"] for m in kept if m["role"] == "tool"}
    call_ids = {c["id"] for m in kept if m.get("tool_calls") for c in m["tool_calls"]}
    assert tool_ids == call_ids
