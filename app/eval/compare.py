"""Execution accuracy: does the rows a turn's query returned equal the reference query's rows?

The convention of the text-to-SQL benchmarks (Spider's and BIRD's execution accuracy), made precise:

- rows are compared as a multiset (duplicates count), in order only when the reference query sorts
  its result (a top-level ORDER BY): "top 3 customers" must come back in the reference's order;
- columns are matched by their values, not by their names or positions: `SELECT count(*) AS n, status`
  equals `SELECT status, count(*)`, and an alias the model chose does not matter. Both sides must have
  the same number of columns: an extra column is a different answer;
- values compare as the client receives them (JSON): numbers by value to 12 significant digits
  (5, 5.0 and the numeric 5.00 are equal; float noise is not a difference), everything else exactly.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pglast

__all__ = ["Comparison", "compare_rows", "is_ordered"]

# Matching columns by values can, with many look-alike columns, be a search; it stops here.
_MAX_ASSIGNMENTS = 20_000
_SHOWN_ROWS = 3


@dataclass(frozen=True)
class Comparison:
    equal: bool
    reason: str


def is_ordered(sql: str) -> bool:
    """True when the statement's result is sorted: a top-level ORDER BY (also over a UNION)."""
    statements = pglast.parse_sql(sql)
    if len(statements) != 1:
        raise ValueError("a reference query is one statement")
    stmt = statements[0].stmt
    return bool(getattr(stmt, "sortClause", None))


def _value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return ("number", float(f"{float(value):.12g}"))
    # Arrays and JSON objects: compared as canonical JSON text.
    return ("json", json.dumps(value, sort_keys=True, default=str))


def _table(rows: Sequence[Any]) -> list[tuple]:
    out = []
    for row in rows:
        values = row.values() if isinstance(row, dict) else row
        out.append(tuple(_value(v) for v in values))
    return out


def compare_rows(actual: Sequence[Any], expected: Sequence[Any], *, ordered: bool,
                 expected_columns: Sequence[str] = ()) -> Comparison:
    """`actual` and `expected` are rows as dicts (column -> value, in column order) or sequences."""
    got, want = _table(actual), _table(expected)
    if len(got) != len(want):
        return Comparison(False, f"{_rows(len(got))}, the reference has {_rows(len(want))}")
    if not want:
        return Comparison(True, "both empty")
    width, want_width = len(got[0]), len(want[0])
    if width != want_width:
        return Comparison(False, f"{_cols(width)}, the reference has {_cols(want_width)}")
    missing = _match(got, want, width, ordered)
    if missing is None:
        return Comparison(True, "equal" + (" (in order)" if ordered else ""))
    if ordered and _match(got, want, width, False) is None:
        return Comparison(False, "the same rows in another order (the reference has ORDER BY)")
    if missing >= 0:
        name = expected_columns[missing] if missing < len(expected_columns) else str(missing + 1)
        return Comparison(False, f"no column has the values of the reference's column {name!r}"
                                 + _shown(actual, expected))
    return Comparison(False, "the rows differ from the reference's" + _shown(actual, expected))


def _shown(actual: Sequence[Any], expected: Sequence[Any]) -> str:
    """Small results are shown, so a failed case says at a glance what came back."""
    def plain(rows):
        return [list(row.values()) if isinstance(row, dict) else list(row) for row in rows]

    if len(expected) > _SHOWN_ROWS or any(len(row) > _SHOWN_ROWS for row in expected):
        return ""
    got, want = (json.dumps(plain(rows), default=str) for rows in (actual, expected))
    text = f" (got {got}, the reference has {want})"
    return text if len(text) <= 300 else ""


def _match(got: list[tuple], want: list[tuple], width: int, ordered: bool) -> int | None:
    """None when some assignment of columns makes the tables equal; else the index of a reference
    column no column of the result can stand for, or -1 when each can but no assignment fits."""
    got_columns = [[row[i] for row in got] for i in range(width)]
    candidates = []
    for j in range(width):
        column = [row[j] for row in want]
        bag = Counter(column)
        fits = [i for i, mine in enumerate(got_columns) if (mine == column if ordered else Counter(mine) == bag)]
        if not fits:
            return j
        candidates.append(fits)
    wanted = want if ordered else Counter(want)
    for tried, assignment in enumerate(_assignments(candidates), 1):
        permuted = [tuple(row[i] for i in assignment) for row in got]
        if (permuted if ordered else Counter(permuted)) == wanted:
            return None
        if tried >= _MAX_ASSIGNMENTS:
            break
    return -1


def _assignments(candidates: list[list[int]]):
    """Every way to give each reference column a distinct column of the result, depth first."""
    chosen: list[int] = []
    used: set[int] = set()

    def walk(j: int):
        if j == len(candidates):
            yield tuple(chosen)
            return
        for i in candidates[j]:
            if i not in used:
                used.add(i)
                chosen.append(i)
                yield from walk(j + 1)
                chosen.pop()
                used.discard(i)

    yield from walk(0)


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n} rows"


def _cols(n: int) -> str:
    return "1 column" if n == 1 else f"{n} columns"
