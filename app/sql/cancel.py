"""Stopping a running statement from another thread or greenlet."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

logger = logging.getLogger(__name__)

_CANCEL_TIMEOUT_S = 5.0


class CancelToken:
    """Lets another thread or greenlet stop a running query. `cancel()` is idempotent."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[threading.Event] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            listeners = list(self._listeners)
        for listener in listeners:
            listener.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once cancelled; False if `timeout` seconds passed first."""
        return self._event.wait(timeout)

    def _link(self, listener: threading.Event) -> Callable[[], None]:
        """Set `listener` on cancel (at once if already cancelled); returns the unlink function."""
        with self._lock:
            self._listeners.append(listener)
            if self._event.is_set():
                listener.set()

        def unlink() -> None:
            with self._lock:
                self._listeners.remove(listener)
        return unlink


class CancelWatcher:
    """Waits (in a thread; a greenlet under gevent) for the token and cancels the statement.

    `stop()` disarms it and waits for a cancel in flight, so a late cancel request can only reach
    the statement it was meant for: PostgreSQL ignores one that arrives while the session is idle.
    """

    def __init__(self, conn: psycopg.Connection, token: CancelToken):
        self._conn = conn
        self._token = token
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._armed = True
        self._unlink = token._link(self._wake)
        self._thread = threading.Thread(target=self._watch, name="sql-cancel-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        self._wake.wait()
        with self._lock:
            if self._armed and self._token.cancelled:
                try:
                    self._conn.cancel_safe(timeout=_CANCEL_TIMEOUT_S)
                except psycopg.Error as exc:
                    logger.warning("query cancellation failed: %s", exc)

    def stop(self) -> None:
        with self._lock:
            self._armed = False
        self._wake.set()
        self._unlink()
        self._thread.join()
