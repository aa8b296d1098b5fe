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
`database_to_xml` run with their owner's rights. See tests/test_sql_executor.py.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import pq
from psycopg.generators import fetch
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

from app.db.connect import reset_session
from app.sql.results import WRITE_COMMANDS, QueryResult, json_safe, row_size

__all__ = ["CancelToken", "ExecutorUnavailable", "QueryFailed", "QueryResult", "SqlExecutor", "END_USER_ROLES"]

logger = logging.getLogger(__name__)

END_USER_ROLES = frozenset({"anon", "authenticated"})

# Rows per network chunk (libpq >= 17); the cap check overshoots by at most this many rows.
_CHUNK_ROWS = 100
_CANCEL_TIMEOUT_S = 5.0

# Every value a bound parameter: nothing the caller passes is spliced into SQL text.
_SETUP_SQL = """
select set_config('role', %(role)s, true),
       set_config('request.jwt.claims', %(claims)s, true),
       set_config('search_path', %(search_path)s, true),
       set_config('statement_timeout', %(timeout)s, true),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, true)
"""

_TAG_COUNTS = re.compile(r"( \d+)+$")   # 'INSERT 0 1' -> 'INSERT', 'SELECT 5' -> 'SELECT'
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

    def run(self, sql: str, *, role: str, claims: dict, search_path_schema: str = "public",
            allow_writes: bool = False, cancel: CancelToken | None = None) -> QueryResult:
        """Run one statement as `role` with `claims`. Raises QueryFailed or ExecutorUnavailable."""
        setup = self._setup_params(role, claims, search_path_schema)
        _check_text(sql)
        if cancel is not None and cancel.cancelled:
            raise QueryFailed("Query cancelled", code="cancelled")
        conn = self._acquire()
        try:
            return self._run_on(conn, sql, setup, allow_writes, cancel)
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

    def _run_on(self, conn: psycopg.Connection, sql: str, setup: dict[str, str], allow_writes: bool,
                cancel: CancelToken | None) -> QueryResult:
        started = time.monotonic()
        watcher = None
        try:
            conn.read_only = not allow_writes     # psycopg opens the next transaction with it
            conn.execute(_SETUP_SQL, setup)
            if cancel is not None:
                watcher = _CancelWatcher(conn, cancel)
                if cancel.cancelled:   # cancelled before the watcher existed
                    raise QueryFailed("Query cancelled", code="cancelled")
            fetched = _fetch(conn, sql, self._max_rows, self._max_bytes, drain=allow_writes)
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
        if allow_writes and fetched.command in WRITE_COMMANDS:
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


class _CancelWatcher:
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


class _Fetched:
    __slots__ = ("columns", "rows", "truncated_by", "command", "affected")

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.truncated_by: str | None = None
        self.command: str | None = None
        self.affected: int | None = None


def _fetch(conn: psycopg.Connection, sql: str, max_rows: int, max_bytes: int, *, drain: bool) -> _Fetched:
    """Stream the statement's rows, keeping at most `max_rows` rows and `max_bytes` of JSON.

    At a cap, a read-only run stops reading: closing psycopg's stream cancels the statement on the
    server and discards what is in flight (nothing to lose, it will be rolled back). A run that may
    write drains the rest without keeping it instead, so a write is never half-cancelled and its
    outcome is known; the statement timeout still bounds it.
    """
    out = _Fetched()
    cur = _StatusCursor(conn)
    # Intervals as PostgreSQL writes them ('1 day 02:00:00'), not Python timedeltas.
    cur.adapters.register_loader("interval", TextLoader)
    size = 0
    names: list[str] | None = None
    chunk = _CHUNK_ROWS if psycopg.capabilities.has_stream_chunked() else 1
    stream: Iterator[tuple] = cur.stream(sql, size=chunk)
    try:
        for raw in stream:
            if out.truncated_by is not None:
                continue   # draining
            if names is None:
                names = out.columns = _column_names(cur)
            if len(out.rows) >= max_rows:
                out.truncated_by = "rows"
            else:
                row = {name: json_safe(value) for name, value in zip(names, raw)}
                cost = row_size(row)
                if size + cost > max_bytes:
                    out.truncated_by = "bytes"
                else:
                    out.rows.append(row)
                    size += cost
                    continue
            if not drain:
                break
    finally:
        stream.close()
    if names is None:
        out.columns = _column_names(cur)
    # No tag means the statement was cancelled at a cap before it ended: only a read gets there.
    out.command = cur.command if cur.command is not None else "SELECT"
    out.affected = cur.affected
    return out


def _column_names(cur: psycopg.Cursor) -> list[str]:
    """Column names made unique (`select a.id, b.id` would otherwise collapse in a dict)."""
    names: list[str] = []
    seen: set[str] = set()
    for column in cur.description or []:
        name, n = column.name, 1
        while name in seen:
            n += 1
            name = f"{column.name}_{n}"
        seen.add(name)
        names.append(name)
    return names


class _StatusCursor(psycopg.Cursor):
    """A cursor whose `stream()` also reports how the statement ended.

    psycopg's `stream()` is the right transport (extended protocol, chunked rows, and on early
    close it cancels the statement and drains the connection), but it drops the final result, so
    the command tag and affected-row count are lost, and it raises on statements that return no
    rows (an INSERT without RETURNING). Both are needed to decide whether to commit. This replaces
    only the per-result step, psycopg 3.3's private `_stream_fetchone_gen`: psycopg is pinned, and
    the executor tests (zero-row, no-row, write and truncated results) fail if it changes.
    """

    command: str | None = None    # tag without counts ('SELECT', 'CREATE TABLE'); '' for an empty
    affected: int | None = None   # statement; None if it did not finish

    def _stream_fetchone_gen(self, first: bool):
        res = yield from fetch(self._pgconn)
        if res is None:
            return None
        status = res.status
        # libpq puts the tag on the final TUPLES_OK in single-row mode but on the last chunk in
        # chunked mode (whose final TUPLES_OK then has none): take it wherever it comes.
        if res.command_status:
            self.command = _TAG_COUNTS.sub("", res.command_status.decode("utf-8", "replace"))
            self.affected = res.command_tuples
        if status in (pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK):
            self.pgresult = res
            self._tx.set_pgresult(res, set_loaders=first)
            if first:
                self._make_row = self._make_row_maker()
            return res
        if status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY):
            if status == pq.ExecStatus.EMPTY_QUERY:
                self.command = ""
            elif first:
                self.pgresult = res   # the column description of a zero-row result
            if self.command is None:
                self.command = ""
            while res is not None:
                res = yield from fetch(self._pgconn)
            return None
        if status in (pq.ExecStatus.COPY_OUT, pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_BOTH):
            # The connection is now mid-COPY; the executor closes it rather than unwinding it.
            raise psycopg.NotSupportedError("COPY is not supported")
        return self._raise_for_result(res)
