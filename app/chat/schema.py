"""A compact description of the tables a chatbot may read, from the catalog, cached per process."""
from __future__ import annotations

import threading
import time

from psycopg import Connection

from app.sql.guard import AccessPolicy
from app.sql.names import sql_name, sql_qualified

_COLUMNS = """
select n.nspname as schema, c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname = any(%(schemas)s)
  and (%(role)s::text is null or has_table_privilege(%(role)s::text, c.oid, 'SELECT'))
order by n.nspname, c.relname, a.attnum
"""

MAX_TABLES = 60


class SchemaCache:
    def __init__(self, ttl_seconds: int):
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, str]] = {}

    def describe(self, conn: Connection, key: tuple, policy: AccessPolicy, role: str | None = None) -> str:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
            if cached and cached[0] > now:
                return cached[1]
        text = describe_tables(conn, policy, role)
        with self._lock:
            self._entries[key] = (now + self._ttl, text)
        return text


def describe_tables(conn: Connection, policy: AccessPolicy, role: str | None = None) -> str:
    """Tables the policy allows (and, given a role, that the role may read), with columns and types."""
    return format_tables(read_tables(conn, policy, role), policy)


def read_tables(conn: Connection, policy: AccessPolicy, role: str | None = None) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(schema, table) -> [(column, type), ...] for the tables `describe_tables` describes, in catalog order."""
    schemas = set(policy.allowed_schemas)
    if policy.allowed_tables is not None:
        schemas = {schema for schema, _ in policy.allowed_tables}
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in conn.execute(_COLUMNS, {"schemas": sorted(schemas), "role": role}).fetchall():
        key = (row["schema"], row["table"])
        if policy.allows_table(*key):
            tables.setdefault(key, []).append((row["column"], row["type"]))
    return tables


def format_tables(tables: dict[tuple[str, str], list[tuple[str, str]]], policy: AccessPolicy) -> str:
    """The prompt's text for `read_tables`' result: one `- name(column type, ...)` line per table."""
    lines = []
    for (schema, table), columns in list(tables.items())[:MAX_TABLES]:
        name = sql_qualified(schema, table, policy.default_schema)
        lines.append(f"- {name}({', '.join(f'{sql_name(column)} {type_}' for column, type_ in columns)})")
    if len(tables) > MAX_TABLES:
        lines.append(f"- ... and {len(tables) - MAX_TABLES} more tables")
    return "\n".join(lines) if lines else "(no tables are available)"
