"""Relay latency: a worker-side `StreamBus.publish` to receipt by WebSocket clients, with 1 and 100
concurrent streams.

    .venv/bin/python -m bench.relay [--events 200]

Goal at 100 streams: p50 <= 1.5 ms, p99 <= 5 ms.
"""
from __future__ import annotations

import argparse
import threading
import time

import redis

from app.streaming.bus import StreamBus
from bench.stack import percentile, running_stack
from tests.support.chat_client import ChatClient


def measure(stack, streams: int, events_per_stream: int) -> list[float]:
    clients = [ChatClient(stack.web, stack.token) for _ in range(streams)]
    conversations = [c.start_chat("bench", namespace="bench")["conversation_id"] for c in clients]
    bus = StreamBus(redis.Redis.from_url(stack.settings.redis_url, decode_responses=True))
    latencies: list[float] = []
    lock = threading.Lock()

    def receive(client: ChatClient) -> None:
        # A reader that falls behind gets deltas merged (each carrying the latest `sent`): count the
        # characters, not the events.
        received = 0
        while received < events_per_stream:
            event = client.recv(30)
            received += len(event["delta"])
            elapsed = (time.perf_counter() - event["sent"]) * 1000
            with lock:
                latencies.append(elapsed)

    readers = [threading.Thread(target=receive, args=(c,)) for c in clients]
    for reader in readers:
        reader.start()
    for _ in range(events_per_stream):
        for conversation in conversations:
            bus.publish(conversation, {"type": "content", "delta": "x", "sent": time.perf_counter()})
        time.sleep(0.005)  # a token stream's pace, not a wait for a result
    for reader in readers:
        reader.join()
    for client in clients:
        client.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    with running_stack() as stack:
        run_relay(stack, (1, 100), args.events)


def run_relay(stack, widths: tuple[int, ...], events: int) -> dict[int, dict]:
    """Warm up at the widest width, then measure each; prints a line per width and returns
    {streams: {"events", "p50_ms", "p99_ms"}}."""
    measure(stack, 1, 20)
    measure(stack, max(widths), 20)  # warm-up at full width too: the first 100 sockets of a process cost more
    figures = {}
    for streams in widths:
        values = measure(stack, streams, events if streams == 1 else max(20, events // 5))
        figures[streams] = {"events": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
        print(f"{streams:3d} stream(s): {len(values):6d} events  p50 {percentile(values, 50):6.2f} ms  "
              f"p99 {percentile(values, 99):6.2f} ms")
    return figures


if __name__ == "__main__":
    main()
