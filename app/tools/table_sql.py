"""The pieces of a composed table statement: a table's real columns, and bound values.

Every name in a statement the data tools build is a `psycopg.sql.Identifier` of a column the
catalog says exists, and every value is a `Value`: `%s` in the SQL text, its data in the bound
parameters. The same statement also renders as readable text with the values spelled out, for
the client's `query_result` and the audit trail; that text is never executed.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from app.tools.base import ToolError

__all__ = ["Column", "Statement", "TableInfo", "Value", "statement"]

# How much of one value the displayed statement shows (an `in` list of 10,000 values is bound whole).
SHOWN_VALUE_CHARS = 200


@dataclass(frozen=True)
class Column:
    name: str
    type_name: str       # pg_type.typname: 'int4', '_text', 'jsonb', 'vector'
    type_schema: str
    category: str        # pg_type.typcategory: 'A' for arrays, 'S' strings, 'U' user-defined, ...
    dimensions: int | None = None   # a pgvector column's declared size

    @property
    def is_array(self) -> bool:
        return self.category == "A"

    @property
    def is_json(self) -> bool:
        return self.type_schema == "pg_catalog" and self.type_name in ("json", "jsonb")


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: dict[str, Column]          # in table order
    vector_schema: str | None = None    # where pgvector lives, when it is installed

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    def is_vector(self, column: Column) -> bool:
        return self.vector_schema is not None and column.type_schema == self.vector_schema \
            and column.type_name == "vector"

    def column(self, name: Any, where: str) -> Column:
        """The named column, or a refusal listing the real ones (`where` says which argument named it)."""
        if not isinstance(name, str) or not name:
            raise ToolError(f"{where}: column names must be non-empty strings")
        found = self.columns.get(name)
        if found is None:
            known = list(self.columns)
            listed = ", ".join(known[:60]) + (", ..." if len(known) > 60 else "")
            raise ToolError(f"{where}: {self.label} has no column {_shown(name, 80)} (columns: {listed})")
        return found


class Value(sql.Composable):
    """A bound value: `%s` in the statement text, `value` in the parameters. `shown` replaces the
    value in the displayed statement (an embedding is shown by what it embeds, not 384 floats)."""

    def __init__(self, value: Any, shown: str | None = None):
        super().__init__(value)
        self.value = value
        self.shown = shown

    def as_bytes(self, context: Any = None) -> bytes:
        return b"%s"


@dataclass(frozen=True)
class Statement:
    query: sql.Composed
    params: list[Any]
    text: str   # for people: the client and the audit trail


def statement(query: sql.Composed) -> Statement:
    return Statement(query=query, params=[part.value for part in _values(query)], text=_render(query))


def _values(part: sql.Composable) -> Iterator[Value]:
    if isinstance(part, Value):
        yield part
    elif isinstance(part, sql.Composed):
        for item in _parts(part):
            yield from _values(item)


def _render(part: sql.Composable) -> str:
    if isinstance(part, Value):
        if part.shown is not None:
            return part.shown
        value = part.value
        if value is None:
            return "NULL"
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return _shown(str(value), SHOWN_VALUE_CHARS)
    if isinstance(part, sql.Composed):
        return "".join(_render(item) for item in _parts(part))
    return part.as_string(None)


def _parts(composed: sql.Composed) -> list[sql.Composable]:
    # psycopg 3.3 keeps a Composed's parts in `_obj` and has no public accessor; psycopg is
    # pinned, and tests/app/tools/test_table_tools.py fails if this changes.
    return composed._obj


def _shown(text: str, limit: int) -> str:
    if len(text) > limit:
        text = text[:limit] + "…"
    return sql.Literal(text).as_string(None)
