"""The shape of a model-written query's result, and the text the model gets back.

Rows are kept as JSON-safe dicts from the moment they are fetched, so every consumer (the
tool result, the WebSocket client, persisted tool calls) can serialise them without knowing
PostgreSQL's types. The model never sees the full result: `model_view` sends a summary and a
few sample rows, because rows are untrusted data and large results waste the context window.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.sql.operations import WRITE_OPERATIONS

# Command tags whose row count means "rows changed", not "rows returned" (MERGE, which the guard
# refuses, still counts if it ever runs).
WRITE_COMMANDS = WRITE_OPERATIONS | {"MERGE"}

_WRITE_VERBS = {"INSERT": "Inserted", "UPDATE": "Updated", "DELETE": "Deleted", "MERGE": "Merged"}
_LIMIT_NAMES = {"rows": "the row limit", "bytes": "the size limit"}


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[dict[str, Any]]
    row_count: int            # rows returned; for INSERT/UPDATE/DELETE/MERGE the rows affected
    truncated: bool
    duration_ms: float
    command: str              # PostgreSQL's command tag without counts: 'SELECT', 'INSERT', 'SHOW', ...
    truncated_by: str | None = None   # 'rows' or 'bytes' when truncated

    @property
    def is_write(self) -> bool:
        return self.command in WRITE_COMMANDS


def json_safe(value: Any) -> Any:
    """Convert a value loaded by psycopg into something `json.dumps` accepts and a JavaScript
    client reads without loss or surprise."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        # NaN and infinities are not JSON; PostgreSQL spells them this way in text form.
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        # PostgreSQL's own hex output format, so the model recognises it as bytea.
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network,
                          ipaddress.IPv6Network, ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
        return str(value)
    # Intervals are loaded as text by the executor; ranges, enums, vectors and types psycopg has
    # no loader for arrive as objects or strings whose str() is PostgreSQL-like.
    return str(value)


def _decimal(value: Decimal) -> float | str:
    if not value.is_finite():
        return "NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")
    as_float = float(value)
    # Keep a number when the float says exactly the same thing (58.80 -> 58.8); otherwise the
    # digits matter more than the type (money, large identifiers).
    if math.isfinite(as_float) and Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def row_size(row: dict[str, Any]) -> int:
    """Bytes the row takes as compact JSON: what it will cost downstream."""
    return len(_compact(row).encode("utf-8"))


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _plural(n: int, word: str = "row") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summarize(result: QueryResult) -> str:
    """One line describing the result, e.g. 'Returned 5 rows (columns: id, name, total)'."""
    if result.is_write:
        text = f"{_WRITE_VERBS[result.command]} {_plural(result.row_count)}"
        if result.columns:
            text += f" (returning: {', '.join(result.columns)})"
        if result.truncated:
            text += f"; {_plural(len(result.rows), 'returned row')} kept, truncated at " \
                    f"{_LIMIT_NAMES.get(result.truncated_by or '', 'a limit')}"
        return text
    if not result.columns:
        return f"{result.command or 'Statement'} completed"
    details = []
    if result.truncated:
        details.append(f"truncated at {_LIMIT_NAMES.get(result.truncated_by or '', 'a limit')}")
    details.append(f"columns: {', '.join(result.columns)}")
    return f"Returned {_plural(len(result.rows))} ({'; '.join(details)})"


def model_view(result: QueryResult, sample_rows: int, *, max_value_chars: int = 200) -> str:
    """The tool result the LLM reads: the summary and at most `sample_rows` rows as compact JSON,
    one per line. Long text values are shortened; the full rows go to the client, not the model."""
    lines = [summarize(result)]
    shown = result.rows[:max(sample_rows, 0)]
    if shown:
        omitted = len(result.rows) - len(shown)
        header = f"Sample rows ({len(shown)} of {len(result.rows)}"
        header += f"; {omitted} omitted):" if omitted else "):"
        lines.append(header)
        lines.extend(_compact(_shorten(row, max_value_chars)) for row in shown)
    elif result.rows:
        lines.append(f"({_plural(len(result.rows))} omitted)")
    if result.truncated:
        lines.append("The result was cut at a limit: aggregate, filter or add LIMIT to see what matters.")
    return "\n".join(lines)


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... [{len(value) - limit} more characters]"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value

