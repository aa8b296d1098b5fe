"""A per-turn lock in Redis with a short lease that the holder keeps renewing.

If the worker dies, the lease runs out within LEASE_SECONDS, so the redelivered task can take
over; while the holder lives, a duplicate delivery finds the lock taken and leaves the turn alone.
"""
from __future__ import annotations

import threading
import time
import uuid

import redis

LEASE_SECONDS = 6

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def lock_key(turn_id: str) -> str:
    return f"fluxbase:turn:{turn_id}:lock"


class TurnLock:
    def __init__(self, client: redis.Redis, turn_id: str, owner: str):
        self._client = client
        self._key = lock_key(turn_id)
        self._token = f"{owner}:{uuid.uuid4()}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def key(self) -> str:
        return self._key

    def acquire(self, wait_seconds: float = 0) -> bool:
        """Take the lock, waiting up to `wait_seconds` for a dead holder's lease to run out.

        A live holder renews its lease, so a duplicate delivery gives up after the wait.
        """
        deadline = time.monotonic() + wait_seconds
        while not self._client.set(self._key, self._token, nx=True, ex=LEASE_SECONDS):
            if time.monotonic() >= deadline:
                return False
            self._stop.wait(0.25)
        self._renewer = threading.Thread(target=self._renew, name="turn-lock", daemon=True)
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            try:
                self._client.eval(_RENEW, 1, self._key, self._token, LEASE_SECONDS * 1000)
            except redis.RedisError:
                pass  # the next renewal retries; losing the lease only allows a redelivery to take over

    def release(self) -> None:
        self._stop.set()
        try:
            self._client.eval(_RELEASE, 1, self._key, self._token)
        except redis.RedisError:
            pass
