"""Connections: the owner pool (migrations, bookkeeping) and the authenticator pool (end-user SQL)."""
from __future__ import annotations

import threading

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from config import Settings


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or refused the connection."""


def connect_owner(settings: Settings, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(settings.database_url, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"cannot connect to DATABASE_URL: {str(exc).strip()}") from None


def owner_pool(settings: Settings, name: str = "owner", *, wait_seconds: float | None = None,
               max_size: int | None = None, session_options: str | None = None) -> ConnectionPool:
    """Pool for the server's own tables; rows come back as dicts.

    A caller waits at most `wait_seconds` (default DB_ACQUIRE_TIMEOUT_SECONDS) for a connection
    (PoolTimeout, which the web layer answers with SERVICE_UNAVAILABLE), so a PostgreSQL outage
    fails requests in seconds. `session_options` are server settings for every connection
    (`-c lock_timeout=5s`)."""
    kwargs = {"row_factory": dict_row, "autocommit": False, "connect_timeout": settings.db_acquire_timeout_seconds}
    if session_options:
        kwargs["options"] = session_options
    return _pool(settings.database_url, name, max_size or settings.db_pool_size,
                 wait_seconds or settings.db_acquire_timeout_seconds, kwargs)


def authenticator_pool(settings: Settings, *, wait_seconds: float | None = None) -> ConnectionPool:
    """Pool for model-written SQL; every connection logs in as the unprivileged authenticator role.

    Server-side prepared statements are off (`prepare_threshold=None`): model SQL may run
    `DEALLOCATE ALL`, and the reset below discards them too, so psycopg's cache of prepared
    names would go stale. Every connection handed back is reset to its login state."""
    return _pool(settings.authenticator_url, "authenticator", settings.db_pool_size,
                 wait_seconds or settings.db_acquire_timeout_seconds,
                 {"autocommit": False, "prepare_threshold": None,
                  "connect_timeout": settings.db_acquire_timeout_seconds}, reset=reset_session)


def _pool(url: str, name: str, max_size: int, wait_seconds: float, kwargs: dict, **extra) -> ConnectionPool:
    holder: list[ConnectionPool] = []
    pool = ConnectionPool(url, min_size=1, max_size=max_size, name=name, kwargs=kwargs, open=True,
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
