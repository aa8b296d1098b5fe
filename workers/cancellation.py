"""A turn's cancellation: set by the web process's signal (app/chat/cancel_signal.py), seen by the loop and the tools.

Every worker process follows the cancel channel with ONE subscription (`CancelHub`), whatever
number of turns it runs: a connection per running turn is what exhausted the Redis pool under load.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

import redis

from app.chat.cancel_signal import CANCEL_CHANNEL, cancelled_turns
from app.sql.executor import CancelToken

log = logging.getLogger(__name__)


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


class CancelHub:
    """One subscription to the cancel channel for all the turns this process runs.

    A turn registers, then checks for a cancel that arrived before it (the signal's key). Whenever
    the subscription becomes ready again (the first time, and after Redis came back), every
    registered turn is checked again, so a cancel sent while the channel was not followed is not lost.
    """

    def __init__(self, client: redis.Redis):
        self._client = client
        self._lock = threading.Lock()
        self._turns: dict[str, TurnCancellation] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._read_forever, name="cancel-hub", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @contextlib.contextmanager
    def watch(self, turn_id: str, cancellation: TurnCancellation) -> Iterator[None]:
        self.start()
        with self._lock:
            self._turns[turn_id] = cancellation
        try:
            self._check([turn_id])
            yield
        finally:
            with self._lock:
                self._turns.pop(turn_id, None)

    def _check(self, turn_ids: list[str]) -> None:
        try:
            found = cancelled_turns(self._client, turn_ids)
        except redis.RedisError:
            return  # checked again once the subscription is back
        for turn_id in found:
            self._fire(turn_id)

    def _fire(self, turn_id: str) -> None:
        with self._lock:
            cancellation = self._turns.get(turn_id)
        if cancellation is not None and not cancellation.cancelled:
            # Off the reader: closing a stream or cancelling SQL must not delay other turns' signals.
            threading.Thread(target=cancellation.cancel, name=f"cancel-{turn_id}", daemon=True).start()

    def _read_forever(self) -> None:
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(CANCEL_CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        with self._lock:
                            registered = list(self._turns)
                        self._check(registered)
                    elif message["type"] == "message":
                        self._fire(message["data"])
            except redis.RedisError:
                log.warning("cancel channel lost Redis; resubscribing")
                self._stop.wait(0.5)
            except OSError:
                # At shutdown the pool closes this connection under the reader ("file descriptor was
                # closed in another greenlet"): nothing to report, and without a stop, resubscribe.
                if self._stop.is_set():
                    return
                log.warning("cancel channel connection closed; resubscribing")
                self._stop.wait(0.5)
            finally:
                try:
                    pubsub.close()
                except (redis.RedisError, OSError):
                    pass
