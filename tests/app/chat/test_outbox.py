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
