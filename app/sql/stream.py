"""Streaming a statement's rows under row and byte caps, keeping how the statement ended."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import psycopg.sql
from psycopg import pq
from psycopg.generators import fetch
from psycopg.types.string import TextLoader

from app.sql.results import json_safe, row_size

_CHUNK_ROWS = 100
_TAG_COUNTS = re.compile(r"( \d+)+$")   # 'INSERT 0 1' -> 'INSERT', 'SELECT 5' -> 'SELECT'


class Fetched:
    __slots__ = ("columns", "rows", "truncated_by", "command", "affected")

    def __init__(self) -> None:
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.truncated_by: str | None = None
        self.command: str | None = None
        self.affected: int | None = None


def fetch_capped(conn: psycopg.Connection, sql: str | psycopg.sql.Composable, max_rows: int, max_bytes: int, *,
                 drain: bool, params: Sequence[Any] | Mapping[str, Any] | None = None) -> Fetched:
    """Stream the statement's rows, keeping at most `max_rows` rows and `max_bytes` of JSON.

    At a cap, a read-only run stops reading: closing psycopg's stream cancels the statement on the
    server and discards what is in flight (nothing to lose, it will be rolled back). A run that may
    write drains the rest without keeping it instead, so a write is never half-cancelled and its
    outcome is known; the statement timeout still bounds it.
    """
    out = Fetched()
    cur = _StatusCursor(conn)
    # Intervals as PostgreSQL writes them ('1 day 02:00:00'), not Python timedeltas.
    cur.adapters.register_loader("interval", TextLoader)
    size = 0
    names: list[str] | None = None
    chunk = _CHUNK_ROWS if psycopg.capabilities.has_stream_chunked() else 1
    stream: Iterator[tuple] = cur.stream(sql, params, size=chunk)
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
