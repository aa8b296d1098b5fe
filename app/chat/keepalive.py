"""Keeps the non-persisted conversations this web process's sockets hold alive (app/chat/lifetime.py).

One keeper per process counts the sockets holding each conversation and renews all of them in one
statement every third of the grace (the pattern of workers/turn_lock.py's LeaseKeeper): a renewal
per socket does not scale to thousands of idle sockets. The statement itself skips persisted
conversations, so the sockets need not know which kind they hold. When the last socket of this
process lets go of a conversation it gets the grace from that moment (another process still
holding it keeps renewing it); those are gathered for RELEASE_BATCH_SECONDS and given it in one
statement, so ten thousand sockets dropping at once cost a few statements, not ten thousand
greenlets queueing for the pool. A process that dies renews nothing: what it held runs out within
the grace, and the expiry job deletes it.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable

from psycopg_pool import ConnectionPool

from app.chat.lifetime import renew_held

log = logging.getLogger(__name__)

# Renewal rounds per grace period: two may fail (PostgreSQL away) before anything expires.
ROUNDS_PER_GRACE = 3
# How long conversations let go of are gathered before their grace is started in one statement.
RELEASE_BATCH_SECONDS = 0.05


class ConversationKeeper:
    def __init__(self, db: ConnectionPool, grace_seconds: int):
        self._db = db
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        self._let_go: set[str] = set()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    @property
    def interval(self) -> float:
        return max(0.2, self.grace_seconds / ROUNDS_PER_GRACE)

    def hold(self, conversation_id: str) -> None:
        """A socket attached this conversation (start_chat has just created or renewed it)."""
        with self._lock:
            self._held[conversation_id] += 1
            self._start()

    def release(self, conversation_ids: Iterable[str]) -> None:
        """A socket let go of these (it closed): the ones no other socket here holds get the grace from now."""
        with self._lock:
            for conversation_id in conversation_ids:
                if self._held[conversation_id] <= 1:
                    self._held.pop(conversation_id, None)
                    self._let_go.add(conversation_id)
                else:
                    self._held[conversation_id] -= 1
            if self._let_go:
                self._start()
                self._wake.set()

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def renew(self) -> int:
        """One round: every held conversation gets the grace from now. Returns how many were renewed."""
        held = self.held()
        return self._renew(held) if held else 0

    def flush(self) -> int:
        """Start the grace of what was let go of since the last flush. Returns how many were renewed."""
        with self._lock:
            let_go, self._let_go = list(self._let_go), set()
        if not let_go:
            return 0
        try:
            return self._renew(let_go)
        except Exception:
            with self._lock:  # tried again with the next ones (their last renewal holds meanwhile)
                self._let_go.update(c for c in let_go if c not in self._held)
            raise

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        try:
            self.flush()
        except Exception as exc:  # shutting down: the last renewal's expiry still holds
            log.warning("could not start the grace of the conversations let go of at shutdown: %s", exc)

    def _start(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="conversation-keeper", daemon=True)
            self._thread.start()

    def _renew(self, conversation_ids: list[str]) -> int:
        with self._db.connection() as conn:
            return renew_held(conn, conversation_ids, grace_seconds=self.grace_seconds)

    def _run(self) -> None:
        next_round = time.monotonic() + self.interval
        while True:
            self._wake.wait(max(0.0, next_round - time.monotonic()))
            if self._stopped:
                return
            if self._wake.is_set():
                self._wake.clear()
                threading.Event().wait(RELEASE_BATCH_SECONDS)  # gather the sockets closing together
                self._step(self.flush, "start the grace of the conversations sockets let go of")
            if time.monotonic() >= next_round:
                next_round = time.monotonic() + self.interval
                self._step(self.renew, "renew the conversations this process's sockets hold")

    @staticmethod
    def _step(action, what: str) -> None:
        try:
            action()
        except Exception as exc:  # PostgreSQL away: the next round retries, within the grace
            log.warning("could not %s: %s", what, exc)
