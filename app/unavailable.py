"""Telling "a backing service is down" apart from a bug: the former is SERVICE_UNAVAILABLE, never INTERNAL_ERROR."""
from __future__ import annotations

import psycopg
import psycopg_pool
import redis

from app.db.connect import DatabaseUnavailable
from app.streaming.relay import RelayError

# Connection exceptions (08), operator intervention (57P01-57P05: shutdown, crash, cannot connect
# now), insufficient resources (53: too many connections, out of disk); and, for the server's own
# statements, a lock not granted in time (55P03) or a statement cancelled by its timeout (57014):
# the database is there but cannot serve this now.
_UNAVAILABLE_PREFIXES = ("08", "57P", "53", "55P03", "57014")


def is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, (DatabaseUnavailable, RelayError, psycopg_pool.PoolTimeout,
                        psycopg_pool.PoolClosed, redis.ConnectionError, redis.TimeoutError)):
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # Raised by the client itself: a broken or closed connection, a failed connect.
            return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        return state.startswith(_UNAVAILABLE_PREFIXES)
    # kombu's OperationalError: the broker refused or dropped the connection while sending a task.
    module = type(exc).__module__ or ""
    return module.startswith("kombu") and type(exc).__name__ == "OperationalError"
