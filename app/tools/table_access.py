"""Which table a data tool call names, whether the chatbot may use it for that operation, and its
real columns.

The chatbot's `allowed-tables` and `allowed-operations` are checked on every call, with the same
rules as `execute_sql` (app/sql/guard.py `AccessPolicy`): `schema.table` or a bare name, which
means the first allowed schema (public by default). The columns come from the catalog, read with
the owner pool: what exists is not the end user's secret once the table is allowed, and the
statement itself still runs as the end user, under their privileges and row-level security.
"""
from __future__ import annotations

import re
from typing import Any

from psycopg.rows import dict_row

from app.sql.guard import AccessPolicy
from app.tools.base import ToolContext, ToolError
from app.tools.sql_tool import chatbot_access_policy
from app.tools.table_sql import Column, TableInfo

__all__ = ["parse_table_name", "resolve_table"]

_PART = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TABLE_NAME = re.compile(rf"({_PART})(?:\.({_PART}))?")
MAX_TABLE_NAME = 200

_COLUMNS = """
select a.attname as name, t.typname as type_name, tn.nspname as type_schema, t.typcategory as category,
       a.atttypmod as typmod,
       (select en.nspname from pg_catalog.pg_extension e join pg_catalog.pg_namespace en on en.oid = e.extnamespace
         where e.extname = 'vector') as vector_schema
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  join pg_catalog.pg_type t on t.oid = a.atttypid
  join pg_catalog.pg_namespace tn on tn.oid = t.typnamespace
 where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p', 'v', 'm', 'f')
 order by a.attnum
"""


def _unquote(part: str) -> str:
    if part.startswith('"'):
        return part[1:-1].replace('""', '"')
    return part.lower()


def parse_table_name(value: Any, default_schema: str) -> tuple[str, str]:
    """(schema, table) from `table` or `schema.table`; plain names fold to lower case, as in SQL."""
    if not isinstance(value, str) or not value.strip():
        raise ToolError("`table` must be a table name such as orders or analytics.order_metrics")
    text = value.strip()
    match = _TABLE_NAME.fullmatch(text) if len(text) <= MAX_TABLE_NAME else None
    if match is None:
        raise ToolError(f"`table`: {text[:80]!r} is not a table name (use table or schema.table)")
    first, second = match.group(1), match.group(2)
    if second is None:
        return default_schema, _unquote(first)
    return _unquote(first), _unquote(second)


def resolve_table(ctx: ToolContext, value: Any, operation: str) -> TableInfo:
    """The allowed table this call names, with its columns; ToolError says why not."""
    policy: AccessPolicy | None = chatbot_access_policy(ctx.chatbot_config)
    if policy is None or operation not in policy.allowed_operations:
        raise ToolError(f"Operation not allowed: {operation}")
    schema, name = parse_table_name(value, policy.default_schema)
    label = f"{schema}.{name}"
    if not policy.allows_table(schema, name):
        raise ToolError(f"Table not allowed: {label}")
    with ctx.services.db.connection() as conn:
        rows = conn.cursor(row_factory=dict_row).execute(_COLUMNS, (schema, name)).fetchall()
    if not rows:
        raise ToolError(f"Table not found: {label}")
    columns = {row["name"]: Column(name=row["name"], type_name=row["type_name"], type_schema=row["type_schema"],
                                   category=row["category"], dimensions=row["typmod"] if row["typmod"] > 0 else None)
               for row in rows}
    return TableInfo(schema=schema, name=name, columns=columns, vector_schema=rows[0]["vector_schema"])
