"""The typed arguments of the data tools, turned into SQL pieces or refused with a clear reason.

Filters are PostgREST-style: `{column: "op.value"}`, several conditions on one column as a list,
all of them ANDed; `not.` before an operator negates it. Values are always bound parameters sent
untyped, so PostgreSQL reads them with the column's own input function ('42' for an integer,
'{a,b}' for an array, '{"k": 1}' for jsonb). Columns are checked against the table's real
columns before anything is composed.
"""
from __future__ import annotations

import csv
import json
import math
from typing import Any

from psycopg import sql

from app.tools.base import ToolError
from app.tools.table_sql import Column, TableInfo, Value

__all__ = ["DEFAULT_LIMIT", "MAX_IN_VALUES", "MAX_LIMIT", "OPERATORS", "column_value", "filter_conditions",
           "limit_offset", "order_by", "returning", "select_list", "where_clause"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_IN_VALUES = 10_000
MAX_OFFSET = 2**63 - 1

_COMPARISONS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=",
                "like": "LIKE", "ilike": "ILIKE", "cs": "@>", "cd": "<@", "ov": "&&"}
_IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
OPERATORS = tuple(_COMPARISONS) + ("in", "nin", "is")
_DIRECTIONS = {"asc": "ASC", "desc": "DESC"}
_NULLS = {"nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}


def _names(value: Any, where: str) -> list[str]:
    """A list of names given as a JSON array or as one comma-separated string."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ToolError(f"`{where}` must be a list of column names or a comma-separated string")


def select_list(table: TableInfo, value: Any) -> list[Column]:
    """The columns to return: the named ones, or (none named, or `*`) every column but vectors,
    which are hundreds of numbers each and mean nothing to read."""
    names = [] if value is None else _names(value, "select")
    if not names or names == ["*"]:
        return [column for column in table.columns.values() if not table.is_vector(column)] \
            or list(table.columns.values())
    return list(dict.fromkeys(table.column(name, "select") for name in names))


def returning(table: TableInfo, value: Any) -> sql.Composable:
    """`RETURNING ...` for a write: nothing by default, `*` for every column, or the named ones."""
    if value in (None, False, [], ""):
        return sql.SQL("")
    names = ["*"] if value is True else _names(value, "returning")
    columns = list(table.columns.values()) if names == ["*"] else \
        list(dict.fromkeys(table.column(name, "returning") for name in names))
    return sql.SQL(" RETURNING ") + sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)


def where_clause(conditions: list[sql.Composable]) -> sql.Composable:
    """` WHERE a AND b ...`, or nothing when there is no condition."""
    if not conditions:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)


def filter_conditions(table: TableInfo, filters: Any, *, required: bool = False) -> list[sql.Composable]:
    """The conditions of `{column: condition | [conditions]}`, to be ANDed."""
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise ToolError('`filter` must be an object such as {"status": "eq.paid", "total": "gte.20"}')
    if required and not filters:
        raise ToolError("`filter` is required and may not be empty: say which rows to change")
    conditions = []
    for name, given in filters.items():
        column = table.column(name, "filter")
        for condition in given if isinstance(given, list) else [given]:
            conditions.append(_condition(column, condition))
    if required and not conditions:
        raise ToolError("`filter` is required and may not be empty: say which rows to change")
    return conditions


def _condition(column: Column, condition: Any) -> sql.Composable:
    target = sql.Identifier(column.name)
    where = f"filter on {column.name}"
    if condition is None:
        return sql.SQL("{} IS NULL").format(target)
    if isinstance(condition, bool):
        return sql.SQL("{} = {}").format(target, Value("true" if condition else "false"))
    if isinstance(condition, (int, float)):
        return sql.SQL("{} = {}").format(target, Value(_number(condition, where)))
    if not isinstance(condition, str):
        raise ToolError(f'{where}: a condition is a string "op.value", e.g. "eq.42" or "in.(1,2,3)"')
    negate = condition.startswith("not.")
    if negate:
        condition = condition[4:]
    op, dot, operand = condition.partition(".")
    if not dot:
        raise ToolError(f'{where}: {json.dumps(condition[:80])} is not "op.value" (e.g. "eq.42"); '
                        f"operators: {', '.join(OPERATORS)}")
    op = op.lower()
    if op in _COMPARISONS:
        if op in ("like", "ilike"):
            operand = operand.replace("*", "%")   # PostgREST's wildcard, which needs no URL escaping
        piece = sql.SQL("{} {} {}").format(target, sql.SQL(_COMPARISONS[op]), Value(operand))
    elif op in ("in", "nin"):
        values = _in_list(operand, where)
        piece = sql.SQL("{} = ANY({})").format(target, Value(_array_literal(values),
                                                             shown=_shown_list(values)))
        if op == "nin":
            piece = sql.SQL("NOT ({})").format(piece)
    elif op == "is":
        keyword = _IS_VALUES.get(operand.lower())
        if keyword is None:
            raise ToolError(f"{where}: `is` takes null, true, false or unknown, not {json.dumps(operand[:40])}")
        piece = sql.SQL("{} IS {}").format(target, sql.SQL(keyword))
    else:
        raise ToolError(f"{where}: unknown operator {json.dumps(op[:40])} (operators: {', '.join(OPERATORS)})")
    return sql.SQL("NOT ({})").format(piece) if negate else piece


def _in_list(operand: str, where: str) -> list[str]:
    if not (operand.startswith("(") and operand.endswith(")")):
        raise ToolError(f'{where}: `in` takes a parenthesised list, e.g. "in.(1,2,3)" or \'in.("a,b",c)\'')
    inner = operand[1:-1]
    if not inner.strip():
        return []
    try:
        values = next(csv.reader([inner], skipinitialspace=True))
    except csv.Error as exc:
        raise ToolError(f"{where}: the `in` list could not be read ({exc})") from None
    if len(values) > MAX_IN_VALUES:
        raise ToolError(f"{where}: an `in` list may hold at most {MAX_IN_VALUES} values, not {len(values)}")
    return values


def _array_literal(values: list[Any]) -> str:
    """A PostgreSQL array literal with every element quoted: data for one bound parameter."""
    def element(value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, list):
            return _array_literal(value)
        text = value if isinstance(value, str) else _scalar_text(value)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(element(value) for value in values) + "}"


def _shown_list(values: list[str]) -> str:
    shown = ", ".join(sql.Literal(v[:60]).as_string(None) for v in values[:10])
    more = f", … {len(values) - 10} more" if len(values) > 10 else ""
    return f"ARRAY[{shown}{more}]"


def order_by(table: TableInfo, value: Any) -> list[sql.Composable]:
    """`col.desc`, `col.asc.nullslast`, `col` (ascending): a comma-separated string or a list."""
    if value is None:
        return []
    terms = []
    for item in _names(value, "order"):
        parts = item.split(".")
        modifiers: list[str] = []
        while len(parts) > 1 and parts[-1].lower() in (*_DIRECTIONS, *_NULLS):
            modifiers.insert(0, parts.pop().lower())
        column = table.column(".".join(parts), "order")
        directions = [m for m in modifiers if m in _DIRECTIONS]
        nulls = [m for m in modifiers if m in _NULLS]
        if len(directions) > 1 or len(nulls) > 1:
            raise ToolError(f"order: {json.dumps(item[:80])} gives more than one direction")
        piece = sql.Identifier(column.name)
        if directions:
            piece = sql.SQL("{} {}").format(piece, sql.SQL(_DIRECTIONS[directions[0]]))
        if nulls:
            piece = sql.SQL("{} {}").format(piece, sql.SQL(_NULLS[nulls[0]]))
        terms.append(piece)
    return terms


def limit_offset(arguments: dict) -> tuple[int, int]:
    limit = _whole(arguments.get("limit"), "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise ToolError(f"`limit` must be between 1 and {MAX_LIMIT}, not {limit}")
    offset = _whole(arguments.get("offset"), "offset", 0)
    if not 0 <= offset <= MAX_OFFSET:
        raise ToolError("`offset` must be zero or a positive whole number")
    return limit, offset


def _whole(value: Any, name: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (isinstance(value, float) and not value.is_integer()):
        raise ToolError(f"`{name}` must be a whole number")
    return int(value)


def column_value(table: TableInfo, column: Column, value: Any) -> Value | sql.Composable:
    """A value to store in `column`, as text PostgreSQL reads with the column's type."""
    if value is None:
        return Value(None)
    if column.is_json:
        return Value(json.dumps(value, ensure_ascii=False))
    if isinstance(value, list):
        if column.is_array:
            return Value(_array_literal(value))
        # pgvector reads '[1, 2, 3]'; anything else that takes a list reads JSON too.
        return Value(json.dumps(value), shown=f"'[{len(value)} values]'" if table.is_vector(column) else None)
    if isinstance(value, dict):
        return Value(json.dumps(value, ensure_ascii=False))
    return Value(_scalar_text(value, f"data.{column.name}"))


def _scalar_text(value: Any, where: str = "value") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value, where)
    raise ToolError(f"{where}: unsupported value {type(value).__name__}")


def _number(value: int | float, where: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError(f"{where}: numbers must be finite")
    return repr(value)
