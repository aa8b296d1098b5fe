"""Connections: the owner pool (migrations, bookkeeping) and the authenticator pool (end-user SQL)."""
from __future__ import annotations

import threading

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from config import Settings


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or refused the connection."""


def connect_owner(settings: Settings, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.database_url, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to DATABASE_URL: {str(exc).strip()}") from None


# How long a caller of a fail-fast pool waits while PostgreSQL refuses connections (the latest attempt
# failed): long enough for a fresh attempt to succeed once it is back, far below DB_ACQUIRE_TIMEOUT_SECONDS.
REFUSED_WAIT_SECONDS = 0.25
# A fail-fast pool gives a failing connection attempt up after this long, and its next caller starts a
# fresh one. psycopg_pool's default (300 s) retries with a doubling pause and no cap: after a 20 s outage
# the web answered 503 for another 10 s while PostgreSQL was already back (tests/faults). Only where
# callers keep coming and wait briefly: a caller already waiting starts no new attempt, so a worker
# waiting its 30 s would be left with none.
RECONNECT_GIVE_UP_SECONDS = 2.0


class _Pool(ConnectionPool):
    """A pool that knows whether its latest attempt to connect failed; with `refused_wait`, a caller
    then waits at most that long instead of its whole timeout. Waiting helps when the pool is busy,
    not when the database is away: every request of the web was held DB_ACQUIRE_TIMEOUT_SECONDS
    before its 503 during an outage."""

    def __init__(self, *args, refused_wait: float | None = None, **kwargs):
        self._refused_wait = refused_wait
        self.refused = False  # set before the pool's first connection attempt, which opening starts
        super().__init__(*args, **kwargs)

    def _connect(self, timeout: float | None = None):
        try:
            conn = super()._connect(timeout)
        except Exception as exc:
            self.refused = True
            if self._refused_wait is not None:
                self._fail_waiting(exc)
            raise
        self.refused = False
        return conn

    def _fail_waiting(self, exc: Exception) -> None:
        # The callers queued before the failure would otherwise sit out their whole timeout: at the start
        # of an outage, 100 requests arriving at once still took 2 s each.
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for client in waiting:
            client.fail(PoolTimeout(f"PostgreSQL refused a new connection: {str(exc).strip()[:200]}"))

    def getconn(self, timeout: float | None = None):
        if self.refused and self._refused_wait is not None:
            timeout = min(self.timeout if timeout is None else timeout, self._refused_wait)
        return super().getconn(timeout)


def owner_pool(settings: Settings, name: str = "owner", *, wait_seconds: float | None = None,
               max_size: int | None = None, session_options: str | None = None,
               fail_fast: bool = False) -> ConnectionPool:
    """Pool for the server's own tables; rows come back as dicts.

    A caller waits at most `wait_seconds` (default DB_ACQUIRE_TIMEOUT_SECONDS) for a connection
    (PoolTimeout, which the web layer answers with SERVICE_UNAVAILABLE), so a PostgreSQL outage
    fails requests in seconds; with `fail_fast` (the web), in a fraction of a second while connecting
    fails. `session_options` are server settings for every connection (`-c lock_timeout=5s`)."""
    kwargs = {"row_factory": dict_row, "autocommit": False, "connect_timeout": settings.db_acquire_timeout_seconds}
    if session_options:
        kwargs["options"] = session_options
    return _pool(settings.database_url, name, max_size or settings.db_pool_size,
                 wait_seconds or settings.db_acquire_timeout_seconds, kwargs, fail_fast=fail_fast)


def authenticator_pool(settings: Settings, *, wait_seconds: float | None = None,
                       fail_fast: bool = False) -> ConnectionPool:
    """Pool for model-written SQL; every connection logs in as the unprivileged authenticator role.

    Server-side prepared statements are off (`prepare_threshold=None`): model SQL may run
    `DEALLOCATE ALL`, and the reset below discards them too, so psycopg's cache of prepared
    names would go stale. Every connection handed back is reset to its login state."""
    return _pool(settings.authenticator_url, "authenticator", settings.db_pool_size,
                 wait_seconds or settings.db_acquire_timeout_seconds,
                 {"autocommit": False, "prepare_threshold": None,
                  "connect_timeout": settings.db_acquire_timeout_seconds}, reset=reset_session, fail_fast=fail_fast)


def _pool(url: str, name: str, max_size: int, wait_seconds: float, kwargs: dict, *, fail_fast: bool = False,
          **extra) -> ConnectionPool:
    holder: list[ConnectionPool] = []
    if fail_fast:
        extra.update(refused_wait=REFUSED_WAIT_SECONDS, reconnect_timeout=RECONNECT_GIVE_UP_SECONDS)
    pool = _Pool(url, min_size=1, max_size=max_size, name=name, kwargs=kwargs, open=True,
                 check=_check_and_flush(holder), timeout=wait_seconds, **extra)
    holder.append(pool)
    return pool


def _check_and_flush(holder: list[ConnectionPool]):
    """The pool's check on handing out a connection, which on a dead one checks all the others at once.

    After PostgreSQL restarts every pooled connection is dead, and the pool finds that out one
    connection per attempt with a growing pause between attempts: requests failed for 15-45 s
    while PostgreSQL was already back."""
    flushing = threading.Lock()

    def flush(pool: ConnectionPool) -> None:
        try:
            pool.check()
        except Exception:  # the next failed check starts another round
            pass
        finally:
            flushing.release()

    def check(conn: psycopg.Connection) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if holder and flushing.acquire(blocking=False):
                threading.Thread(target=flush, args=(holder[0],), name="pool-flush", daemon=True).start()
            raise

    return check


def reset_session(conn: psycopg.Connection) -> None:
    """Bring an idle connection back to the state it had right after login.

    Rolling back is not enough after model-written SQL: session-level settings changed with
    `set_config(..., false)` or `SET`, `LISTEN`, session advisory locks, WITH HOLD cursors,
    prepared statements and temporary objects all survive a rollback. `DISCARD ALL` undoes every
    one of them (and `SET SESSION AUTHORIZATION DEFAULT`); it refuses to run inside a transaction
    block, hence autocommit for that one statement."""
    conn.autocommit = True
    try:
        conn.execute("DISCARD ALL")
    finally:
        conn.autocommit = False
    conn.read_only = None
