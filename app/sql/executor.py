"""Run one model-written SQL statement as the end user.

This is the database half of the defence; the guard (app/sql/guard.py) is the other half, and
this module assumes nothing about it. Each run:

- takes a connection logged in as `authenticator` (no table privileges of its own);
- opens its own transaction, READ ONLY unless writes are allowed, and first sets, local to that
  transaction, the role (`anon` or `authenticated`, never `service_role`), the JWT claims that
  RLS policies read through `auth.uid()`, a search_path of `pg_catalog, <schema>, pg_temp` and a
  statement timeout. Doing this before the user statement matters: PostgreSQL refuses to make a
  transaction read-write once it has run a query;
- sends the statement over the extended protocol, which refuses `SELECT 1; DROP ...`;
- streams rows in chunks and stops at the row and byte caps, so a million-row result is never
  pulled into memory;
- commits only a top-level INSERT/UPDATE/DELETE/MERGE that succeeded with writes allowed, and
  rolls back everything else;
- hands the connection back reset to its login state (`DISCARD ALL`), or closes it.

What it cannot stop on its own (the guard's job): a statement that calls
`set_config('request.jwt.claims', ...)` changes the identity RLS sees for the rest of that very
statement; SECURITY DEFINER functions, views without `security_invoker` and functions such as
`database_to_xml` run with their owner's rights. See tests/app/sql/test_executor.py.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg import sql as pgsql
from psycopg_pool import ConnectionPool

from app.db.connect import reset_session
from app.sql.cancel import CancelToken, CancelWatcher
from app.sql.results import WRITE_COMMANDS, QueryResult
from app.sql.stream import fetch_capped

__all__ = ["CancelToken", "ExecutorUnavailable", "QueryFailed", "QueryResult", "SqlExecutor", "END_USER_ROLES"]

logger = logging.getLogger(__name__)

END_USER_ROLES = frozenset({"anon", "authenticated"})

# Rows per network chunk (libpq >= 17); the cap check overshoots by at most this many rows.

# Every value a bound parameter: nothing the caller passes is spliced into SQL text.
_SETUP_SQL = """
select set_config('role', %(role)s, true),
       set_config('request.jwt.claims', %(claims)s, true),
       set_config('search_path', %(search_path)s, true),
       set_config('statement_timeout', %(timeout)s, true),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, true)
"""

_READ_ONLY_OP = re.compile(r"cannot execute (.+?) in a read-only transaction")

# Connection-level failures: the query did not fail, the database went away.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57P05", "25P03"})


class QueryFailed(Exception):
    """The statement did not produce a result. `reason` is safe to show the model and the user;
    `code` is one of: permission_denied, read_only, timeout, cancelled, query_error."""

    def __init__(self, reason: str, code: str = "query_error"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class ExecutorUnavailable(Exception):
    """No database connection could be used (pool exhausted or closed, server gone)."""


class SqlExecutor:
    def __init__(self, pool: ConnectionPool, *, statement_timeout_ms: int, max_rows: int, max_bytes: int,
                 acquire_timeout_s: float = 5.0):
        if statement_timeout_ms <= 0 or max_rows <= 0 or max_bytes <= 0:
            raise ValueError("statement_timeout_ms, max_rows and max_bytes must be positive")
        self._pool = pool
        self._timeout_ms = statement_timeout_ms
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._acquire_timeout_s = acquire_timeout_s

    def run(self, sql: str | pgsql.Composable, *, role: str, claims: dict, search_path_schema: str = "public",
            allow_writes: bool = False, cancel: CancelToken | None = None,
            params: Sequence[Any] | Mapping[str, Any] | None = None, commit: bool = True) -> QueryResult:
        """Run one statement as `role` with `claims`. Raises QueryFailed or ExecutorUnavailable.

        `commit=False` runs a write in a read-write transaction and rolls it back: the rows it
        would change, and nothing changed (the approval preview, docs/approval.md).

        Model-written SQL comes as text with no `params`; a statement the server composed (tools with
        typed arguments) comes as `psycopg.sql` with its values bound as `params`, never spliced in.
        """
        setup = self._setup_params(role, claims, search_path_schema)
        if not isinstance(sql, pgsql.Composable):
            _check_text(sql)
        if cancel is not None and cancel.cancelled:
            raise QueryFailed("Query cancelled", code="cancelled")
        conn = self._acquire()
        try:
            return self._run_on(conn, sql, setup, allow_writes, cancel, params, commit)
        finally:
            self._release(conn)

    # -- one run ------------------------------------------------------------------------------

    def _setup_params(self, role: str, claims: dict, schema: str) -> dict[str, str]:
        if role not in END_USER_ROLES:
            raise ValueError(f"end-user SQL runs as anon or authenticated, not {role!r}")
        if not isinstance(claims, dict):
            raise ValueError("claims must be a dict")
        try:
            claims_json = json.dumps(claims)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"claims must be JSON-serialisable: {exc}") from None
        if not isinstance(schema, str) or not schema or "\x00" in schema:
            raise ValueError("search_path_schema must be a non-empty name")
        quoted = '"' + schema.replace('"', '""') + '"'
        return {
            "role": role,
            "claims": claims_json,
            # pg_temp last, so no temporary object can shadow a real one.
            "search_path": f"pg_catalog, {quoted}, pg_temp",
            "timeout": str(self._timeout_ms),
            # If this process stalls mid-run, the server ends the session instead of holding
            # the transaction (and any lock the statement took) open.
            "idle_timeout": str(self._timeout_ms + 10_000),
        }

    def _run_on(self, conn: psycopg.Connection, sql: str | pgsql.Composable, setup: dict[str, str],
                allow_writes: bool, cancel: CancelToken | None,
                params: Sequence[Any] | Mapping[str, Any] | None = None, commit: bool = True) -> QueryResult:
        started = time.monotonic()
        watcher = None
        try:
            conn.read_only = not allow_writes     # psycopg opens the next transaction with it
            conn.execute(_SETUP_SQL, setup)
            if cancel is not None:
                watcher = CancelWatcher(conn, cancel)
                if cancel.cancelled:   # cancelled before the watcher existed
                    raise QueryFailed("Query cancelled", code="cancelled")
            fetched = fetch_capped(conn, sql, self._max_rows, self._max_bytes, drain=allow_writes, params=params)
        except psycopg.Error as exc:
            raise self._translate(conn, exc, cancel, started) from None
        finally:
            if watcher is not None:
                watcher.stop()
        if cancel is not None and cancel.cancelled:
            # Finished before the cancel landed: still report it, and never commit it.
            raise QueryFailed("Query cancelled", code="cancelled")
        if fetched.command == "":
            raise QueryFailed("Query failed: empty statement")
        if allow_writes and commit and fetched.command in WRITE_COMMANDS:
            try:
                conn.commit()
            except psycopg.Error as exc:   # deferred constraints are checked here
                raise self._translate(conn, exc, cancel, started) from None
        duration_ms = (time.monotonic() - started) * 1000
        is_write = fetched.command in WRITE_COMMANDS
        return QueryResult(
            columns=fetched.columns, rows=fetched.rows,
            row_count=fetched.affected if is_write and fetched.affected is not None else len(fetched.rows),
            truncated=fetched.truncated_by is not None, duration_ms=round(duration_ms, 3),
            command=fetched.command, truncated_by=fetched.truncated_by)

    def _translate(self, conn: psycopg.Connection, exc: psycopg.Error, cancel: CancelToken | None,
                   started: float) -> Exception:
        state = exc.sqlstate
        if conn.broken or conn.closed or state in _UNAVAILABLE_SQLSTATES or \
                ((state or "").startswith("08") and state != "08P01"):
            return ExecutorUnavailable(f"database connection lost: {_primary(exc)}")
        if state == "08P01":
            # The only protocol error one statement can cause here: `$1` with no value bound.
            return QueryFailed("Query failed: statement parameters ($1, ...) are not supported")
        if cancel is not None and cancel.cancelled:
            return QueryFailed("Query cancelled", code="cancelled")
        if state == "57014":
            elapsed_ms = (time.monotonic() - started) * 1000
            if elapsed_ms >= self._timeout_ms:
                return QueryFailed("Query timed out", code="timeout")
            return QueryFailed("Query cancelled", code="cancelled")
        if state == "42501":   # includes RLS "new row violates row-level security policy"
            return QueryFailed("Permission denied", code="permission_denied")
        if state == "25006":
            # Name the operation so the model stops retrying writes; the guard should have
            # refused it already, so reaching this means the guard let a write through.
            match = _READ_ONLY_OP.search(_primary(exc))
            return QueryFailed(f"Operation not allowed: {match.group(1) if match else 'write'}", code="read_only")
        return QueryFailed(f"Query failed: {_primary(exc)}")

    # -- connections --------------------------------------------------------------------------

    def _acquire(self) -> psycopg.Connection:
        try:
            return self._pool.getconn(timeout=self._acquire_timeout_s)
        except psycopg.OperationalError as exc:   # PoolTimeout, PoolClosed, connect failures
            raise ExecutorUnavailable(f"no database connection available: {exc}") from None

    def _release(self, conn: psycopg.Connection) -> None:
        """End the transaction and reset the session; a connection that cannot be brought back
        to a known state is closed, and the pool replaces it."""
        try:
            status = conn.info.transaction_status
            if status in (pq.TransactionStatus.ACTIVE, pq.TransactionStatus.UNKNOWN):
                conn.close()   # mid-protocol (e.g. a COPY the model started): not recoverable
            else:
                if status != pq.TransactionStatus.IDLE:
                    conn.rollback()
                # The pool's reset does this too; doing it here keeps the guarantee even on a
                # pool configured without it.
                reset_session(conn)
        except psycopg.Error as exc:
            logger.warning("discarding authenticator connection after a failed reset: %s", exc)
            conn.close()
        finally:
            self._pool.putconn(conn)


def _check_text(sql: str) -> None:
    if not isinstance(sql, str):
        raise TypeError("sql must be a str")
    # libpq sends C strings: the server would run only the text before a NUL, which is not the
    # statement anyone checked.
    if "\x00" in sql:
        raise QueryFailed("Query failed: the statement contains a NUL character")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        raise QueryFailed("Query failed: the statement is not valid UTF-8 text") from None


def _primary(exc: psycopg.Error) -> str:
    # Only PostgreSQL's primary message: detail, hint and context can quote other rows or
    # internal names.
    message = exc.diag.message_primary if exc.sqlstate else None
    return (message or str(exc).split("\n", 1)[0]).strip()


