"""A turn's cancellation: set by a Redis signal from the web process, seen by the loop and the tools."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from app.sql.executor import CancelToken

log = logging.getLogger(__name__)


def cancel_key(turn_id: str) -> str:
    return f"fluxbase:turn:{turn_id}:cancel"


def request_cancel(client: redis.Redis, turn_id: str, ttl_seconds: int = 3600) -> None:
    """Web side: a list the worker BLPOPs, so the cancel arrives at once and survives a worker not yet started."""
    key = cancel_key(turn_id)
    pipe = client.pipeline()
    pipe.rpush(key, "1")
    pipe.expire(key, ttl_seconds)
    pipe.execute()


class TurnCancellation:
    """Holds the executor's CancelToken and runs callbacks (closing the LLM stream) on cancel."""

    def __init__(self) -> None:
        self.token = CancelToken()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self.token.cancelled

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register `callback`; returns a function that unregisters it."""
        with self._lock:
            run_now = self.token.cancelled
            if not run_now:
                self._callbacks.append(callback)
        if run_now:
            callback()

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)
        return remove

    def cancel(self) -> None:
        with self._lock:
            self.token.cancel()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("cancel callback failed")


class CancelWatcher:
    """Blocks on the turn's cancel list in a background thread (a greenlet under gevent)."""

    def __init__(self, client: redis.Redis, turn_id: str, cancellation: TurnCancellation):
        self._client = client
        self._key = cancel_key(turn_id)
        self._cancellation = cancellation
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"cancel-{turn_id}", daemon=True)

    def __enter__(self) -> CancelWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self._client.blpop([self._key], timeout=1):
                    self._cancellation.cancel()
                    return
            except redis.RedisError:
                log.warning("cancel watcher lost Redis; retrying")
                self._stop.wait(0.5)
