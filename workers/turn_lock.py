"""A per-turn lock in Redis with a short lease, renewed for every held lock of the process at once.

If the worker dies, the lease runs out within LEASE_SECONDS, so the redelivered task can take
over; while the holder lives, a duplicate delivery finds the lock taken and leaves the turn alone.
One `LeaseKeeper` per process renews all of them in one pipelined round trip: a renewing
greenlet (and a Redis connection) per running turn does not scale to hundreds of turns.

The lease is also kept in PostgreSQL (`ai.turns.lease_until`, one statement per round), which is
what housekeeping trusts: a Redis restart loses every lock, and a keeper that finds its lock gone
takes it again, but only the durable lease stops housekeeping from starting a second attempt in
the moments between.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis

log = logging.getLogger(__name__)

LEASE_SECONDS = 6

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Renew our lease, or take the lock again if Redis lost it (a restart); someone else's lock stays theirs.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
"""


def lock_key(turn_id: str) -> str:
    return f"fluxbase:turn:{turn_id}:lock"


class LeaseKeeper:
    def __init__(self, client: redis.Redis, renew_durable: Callable[[dict[str, int]], None]):
        self._client = client
        self._renew = client.register_script(_RENEW)
        self._renew_durable = renew_durable
        self._lock = threading.Lock()
        self._held: dict[str, tuple[str, str]] = {}  # lock key -> (turn id, token)
        self._positions: dict[str, int] = {}         # turn id -> highest seq published
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, turn_id: str, key: str, token: str) -> None:
        with self._lock:
            self._held[key] = (turn_id, token)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, key: str) -> None:
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None:
                self._positions.pop(held[0], None)

    def note_seq(self, turn_id: str, seq: int) -> None:
        """The running attempt's latest published seq, kept in PostgreSQL with the next renewal."""
        self._positions[turn_id] = seq

    def stop(self) -> None:
        self._stop.set()

    def _forget_released(self, retaken: list[tuple[str, str]]) -> None:
        """A lock released while this round ran was missing, so the round took it again: undo that."""
        with self._lock:
            released = [(key, token) for key, token in retaken if self._held.get(key, (None, None))[1] != token]
        for key, token in released:
            self._client.eval(_RELEASE, 1, key, token)

    def _run(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                pipe = self._client.pipeline(transaction=False)
                for key, (_turn_id, token) in held:
                    self._renew(keys=[key], args=[token, LEASE_SECONDS * 1000], client=pipe)
                retaken = [(key, token) for (key, (_turn_id, token)), result in zip(held, pipe.execute())
                           if result == 2]
                if retaken:
                    self._forget_released(retaken)
                    log.warning("took %d turn lock(s) again after Redis lost them", len(retaken))
            except redis.RedisError as exc:
                # The next round retries; a lost lease only lets a redelivery take over.
                log.warning("could not renew %d turn lock(s): %s", len(held), exc)
            try:
                self._renew_durable({turn_id: self._positions.get(turn_id, 0) for _key, (turn_id, _token) in held})
            except Exception as exc:  # PostgreSQL away: the next round retries
                log.warning("could not renew %d turn lease(s) in PostgreSQL: %s", len(held), exc)


class TurnLock:
    def __init__(self, client: redis.Redis, turn_id: str, owner: str, keeper: LeaseKeeper):
        self._client = client
        self._keeper = keeper
        self._turn_id = turn_id
        self._key = lock_key(turn_id)
        self._token = f"{owner}:{uuid.uuid4()}"
        self._wait = threading.Event()

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
            self._wait.wait(0.25)
        self._keeper.hold(self._turn_id, self._key, self._token)
        return True

    def release(self) -> None:
        self._keeper.drop(self._key)
        try:
            self._client.eval(_RELEASE, 1, self._key, self._token)
        except redis.RedisError:
            pass  # the lease runs out by itself
