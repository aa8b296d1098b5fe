"""The tables a chatbot's end user may see, described in full: columns with types and comments, the
table's comment, and its foreign keys. Schema retrieval (app/chat/schema_retrieval.py) embeds and
ranks these; `describe_table` (app/tools/describe_table.py) shows one.

The filter is the same as the prompt's schema (app/chat/schema.py): the chatbot's allowed tables and
schemas, and, given a role, the tables that role may SELECT. A foreign key to a table outside that
set is left out, so a description never names a table the user could not read.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from psycopg import Connection, sql
from psycopg.rows import dict_row

from app.sql.guard import AccessPolicy
from app.sql.names import sql_name, sql_qualified

_TABLES = """
select n.nspname as schema, c.relname as table, obj_description(c.oid, 'pg_class') as comment,
       coalesce(json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod),
                                          col_description(c.oid, a.attnum)) order by a.attnum)
                filter (where a.attnum is not null), '[]') as columns
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname = any(%(schemas)s)
  and (%(role)s::text is null or has_table_privilege(%(role)s::text, c.oid, 'SELECT'))
  and (%(only)s::text is null or c.oid = to_regclass(%(only)s::text))
group by n.nspname, c.relname, c.oid
order by n.nspname, c.relname
"""

_FOREIGN_KEYS = """
select sn.nspname as schema, s.relname as table, tn.nspname as ref_schema, t.relname as ref_table,
       array(select sa.attname from unnest(k.conkey) with ordinality u(num, i)
             join pg_attribute sa on sa.attrelid = k.conrelid and sa.attnum = u.num order by u.i) as columns,
       array(select ta.attname from unnest(k.confkey) with ordinality u(num, i)
             join pg_attribute ta on ta.attrelid = k.confrelid and ta.attnum = u.num order by u.i) as ref_columns
from pg_constraint k
join pg_class s on s.oid = k.conrelid join pg_namespace sn on sn.oid = s.relnamespace
join pg_class t on t.oid = k.confrelid join pg_namespace tn on tn.oid = t.relnamespace
where k.contype = 'f' and sn.nspname = any(%(schemas)s)
  and (%(role)s::text is null or (has_table_privilege(%(role)s::text, s.oid, 'SELECT')
                                   and has_table_privilege(%(role)s::text, t.oid, 'SELECT')))
  and (%(only)s::text is null or s.oid = to_regclass(%(only)s::text))
order by sn.nspname, s.relname, k.conname
"""

# A comment is the schema author's note; past this it is cut, so one long comment cannot crowd a prompt.
COMMENT_CHARS = 200


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref: tuple[str, str]              # (schema, table)
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[Column, ...]
    comment: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


def display_name(key: tuple[str, str], default_schema: str) -> str:
    schema, table = key
    return sql_qualified(schema, table, default_schema)


def read_catalog(conn: Connection, policy: AccessPolicy, role: str | None = None, *,
                 only: tuple[str, str] | None = None) -> dict[tuple[str, str], TableInfo]:
    """(schema, table) -> TableInfo for every table the policy allows and `role` may read, by name;
    `only`: that one table, if it is among them."""
    schemas = set(policy.allowed_schemas)
    if policy.allowed_tables is not None:
        schemas = {schema for schema, _ in policy.allowed_tables}
    if only is not None and not policy.allows_table(*only):
        return {}
    params = {"schemas": sorted(schemas), "role": role,
              "only": None if only is None else sql.Identifier(*only).as_string(conn)}
    rows = [row for row in conn.cursor(row_factory=dict_row).execute(_TABLES, params).fetchall() if policy.allows_table(row["schema"], row["table"])]
    fks_of: dict[tuple[str, str], list[ForeignKey]] = {}
    for row in conn.cursor(row_factory=dict_row).execute(_FOREIGN_KEYS, params).fetchall():
        source, target = (row["schema"], row["table"]), (row["ref_schema"], row["ref_table"])
        if policy.allows_table(*source) and policy.allows_table(*target):
            fks_of.setdefault(source, []).append(ForeignKey(tuple(row["columns"]), target, tuple(row["ref_columns"])))
    return {(row["schema"], row["table"]): TableInfo(
                row["schema"], row["table"],
                tuple(Column(name, type_, _clip(comment)) for name, type_, comment in row["columns"]),
                _clip(row["comment"]), tuple(fks_of.get((row["schema"], row["table"]), ())))
            for row in rows}


def _clip(text: str | None) -> str | None:
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= COMMENT_CHARS else text[:COMMENT_CHARS - 1] + "…"


def neighbours(catalog: dict[tuple[str, str], TableInfo]) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """Tables one foreign key away, in either direction."""
    near: dict[tuple[str, str], set[tuple[str, str]]] = {key: set() for key in catalog}
    for key, info in catalog.items():
        for fk in info.foreign_keys:
            if fk.ref != key:
                near[key].add(fk.ref)
                near.setdefault(fk.ref, set()).add(key)
    return near


def embedding_text(info: TableInfo) -> str:
    """What is embedded for a table: its name as words first (the local model reads 256 tokens), then its
    comment, its columns and what it references."""
    words = info.name.replace("_", " ")
    parts = [f"{words} ({info.schema}.{info.name})"]
    if info.comment:
        parts.append(info.comment)
    parts.append("columns: " + ", ".join(
        column.name.replace("_", " ") + (f" ({column.comment})" if column.comment else "") for column in info.columns))
    if info.foreign_keys:
        parts.append("references: " + ", ".join(fk.ref[1].replace("_", " ") for fk in info.foreign_keys))
    return ". ".join(parts)


def prompt_line(info: TableInfo, default_schema: str) -> str:
    """One table for the prompt when only some are described: today's `- name(column type, ...)`, with
    each foreign key column pointing at its table (what a join needs) and the table's comment."""
    refs = {fk.columns[0]: display_name(fk.ref, default_schema) for fk in info.foreign_keys if len(fk.columns) == 1}
    columns = ", ".join(f"{sql_name(c.name)} {c.type}" + (f" -> {refs[c.name]}" if c.name in refs else "")
                        for c in info.columns)
    line = f"- {display_name(info.key, default_schema)}({columns})"
    return f"{line} -- {info.comment}" if info.comment else line


def describe(info: TableInfo, default_schema: str) -> str:
    """The whole description `describe_table` returns: every column with its comment, every foreign key."""
    lines = [f"Table {display_name(info.key, default_schema)}" + (f": {info.comment}" if info.comment else "")]
    lines.append("Columns:")
    lines.extend(f"- {sql_name(c.name)} {c.type}" + (f" -- {c.comment}" if c.comment else "") for c in info.columns)
    if info.foreign_keys:
        lines.append("Foreign keys:")
        lines.extend(f"- ({', '.join(map(sql_name, fk.columns))}) -> {display_name(fk.ref, default_schema)}"
                     f"({', '.join(map(sql_name, fk.ref_columns))})" for fk in info.foreign_keys)
    return "\n".join(lines)


class CatalogCache:
    """Per process, for SCHEMA_CACHE_SECONDS: the catalog of one (chatbot, version, role)."""

    def __init__(self, ttl_seconds: int, max_entries: int = 256):
        self._ttl = ttl_seconds
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[float, dict[tuple[str, str], TableInfo]]] = {}

    def catalog(self, conn: Connection, key: tuple, policy: AccessPolicy,
                role: str | None) -> dict[tuple[str, str], TableInfo]:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(key)
            if cached and cached[0] > now:
                return cached[1]
        found = read_catalog(conn, policy, role)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (now + self._ttl, found)
        return found
