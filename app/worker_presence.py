"""Which Celery workers are alive: each worker refreshes a short-lived key in Redis.

Cheaper and steadier than a broadcast ping: a fresh process's first ping can miss the replies
that arrive while its reply queue is still being declared.
"""
from __future__ import annotations

import threading

import redis

PREFIX = "fluxbase:worker:"
TTL_SECONDS = 15
REFRESH_SECONDS = 5


def live_workers(client: redis.Redis) -> list[str]:
    names = [key[len(PREFIX):] if isinstance(key, str) else key.decode()[len(PREFIX):]
             for key in client.scan_iter(match=f"{PREFIX}*", count=100)]
    return sorted(names)


class Heartbeat:
    def __init__(self, client: redis.Redis, name: str):
        self._client = client
        self._key = f"{PREFIX}{name}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self._client.set(self._key, "1", ex=TTL_SECONDS)
            except redis.RedisError:
                pass  # Redis is down; /health reports that on its own
            if self._stop.wait(REFRESH_SECONDS):
                break

    def stop(self) -> None:
        self._stop.set()
        try:
            self._client.delete(self._key)
        except redis.RedisError:
            pass
