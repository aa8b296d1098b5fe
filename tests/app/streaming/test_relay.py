"""The web-side relay against the real Redis: one subscription per process, fanned out to sockets."""
import threading
import uuid

from app.streaming.bus import StreamBus, channel_name
from app.streaming.relay import Relay


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
