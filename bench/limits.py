"""What the rate and daily limit checks add to a turn: `RequestLimits.check` against a local Redis,
one caller and many, p50/p99 in milliseconds. Run: `python -m bench.limits [--n 5000]`."""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import redis

from app.chat.request_limits import RequestLimits
from app.services.redis_server import EmbeddedRedis
from bench.stack import percentile
from tests.support.processes import free_port


def measure(limits: RequestLimits, n: int, callers: int) -> list[float]:
    chatbot = str(uuid.uuid4())
    took = []
    for i in range(n):
        started = time.perf_counter()
        limits.check(chatbot, f"user:{i % callers}", per_minute=10**6, per_day=10**7)
        took.append((time.perf_counter() - started) * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-limits-", dir="/tmp") as root:
        server = EmbeddedRedis(Path(root) / "redis", free_port())
        server.start()
        try:
            client = redis.Redis.from_url(server.url)
            limits = RequestLimits(client)
            measure(limits, 200, 10)  # warm up: scripts loaded, connections open
            for callers in (1, 1000):
                took = measure(limits, args.n, callers)
                print(f"{callers:>5} caller(s), {args.n} checks: p50 {percentile(took, 50):.3f} ms, "
                      f"p99 {percentile(took, 99):.3f} ms")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
