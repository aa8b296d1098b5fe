"""The tables a chatbot may see, described once and cached in Redis until the catalog changes.

Two readers share it: the MCP server's `schema://` resources (app/mcp_server) and the system prompt of a
chatbot with `@fluxbase:use-mcp-schema` (workers/plan.py), so the model and an outside MCP client are
told the same thing, and neither costs a catalog query per turn or per request.

Invalidation is by fingerprint, not by time: PostgreSQL hashes the catalog rows a description depends
on (schemas, tables, columns and their types, table, column and schema privileges, role memberships).
An entry is stored under the fingerprint it was built at, so a migration, an ALTER, a GRANT or a
REVOKE makes every entry unreachable as soon as the fingerprint is next computed; the old entries expire
on their own. Computing it is one cheap query, made at most once every MCP_SCHEMA_CHECK_SECONDS for
all processes together (the last value is kept in Redis with that lifetime). An event trigger bumping a
version was the alternative: it needs a superuser to create, and role membership (`GRANT role TO
role`), which decides what `authenticated` may read, fires none.

Redis away: the description is built from the catalog directly, as if nothing were cached.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import redis
from psycopg import Connection

from app.chat.schema import format_tables, read_tables
from app.sql.guard import AccessPolicy

__all__ = ["FINGERPRINT_KEY", "TABLE_TOOLS", "SchemaResources", "SchemaView"]

log = logging.getLogger(__name__)

FINGERPRINT_KEY = "fluxbase:schema:fingerprint"
_ENTRY_PREFIX = "fluxbase:schema:entry:"
# Entries are never stale (their key names the catalog state they describe); this only bounds the
# space that states no longer current keep.
ENTRY_TTL_SECONDS = 86_400

# The tools that act on the tables the description lists: a chatbot offered one is told the schema.
TABLE_TOOLS = frozenset({"execute_sql", "query_table", "insert_record", "update_record", "delete_record"})

_SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema', 'pg_toast')"
FINGERPRINT_SQL = f"""
select md5(coalesce(string_agg(line, E'\\n' order by line), '')) as fingerprint from (
  select format('n %s %s %s', n.oid, n.nspname, n.nspacl) as line
    from pg_namespace n
   where n.nspname not in {_SYSTEM_SCHEMAS} and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'
  union all
  select format('c %s %s %s %s %s', c.oid, c.relnamespace, c.relname, c.relkind, c.relacl)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'v', 'm', 'p', 'f') and n.nspname not in {_SYSTEM_SCHEMAS} and not n.nspname like 'pg\\_temp\\_%'
  union all
  select format('a %s %s %s %s %s', a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attacl)
    from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
   where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'p', 'f')
     and n.nspname not in {_SYSTEM_SCHEMAS} and not n.nspname like 'pg\\_temp\\_%'
  union all
  select format('m %s %s', m.roleid, m.member) from pg_auth_members m
) lines
"""


@dataclass(frozen=True)
class SchemaView:
    """What one chatbot's end user may see: tables with (column, type) pairs, and the prompt's text."""

    fingerprint: str
    default_schema: str
    tables: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]   # (schema, table, ((column, type), ...))
    text: str

    def as_json(self) -> dict:
        return {"fingerprint": self.fingerprint, "default_schema": self.default_schema,
                "tables": [{"schema": schema, "name": table,
                            "columns": [{"name": column, "type": type_} for column, type_ in columns]}
                           for schema, table, columns in self.tables]}

    def markdown(self, title: str) -> str:
        return (f"# {title}\n\nTables, as `name(column type, ...)`; unqualified names are in schema "
                f"`{self.default_schema}`.\n\n{self.text}\n")

    def _dump(self) -> str:
        return json.dumps({"default_schema": self.default_schema, "text": self.text,
                           "tables": [[s, t, [list(c) for c in cols]] for s, t, cols in self.tables]})

    @classmethod
    def _load(cls, fingerprint: str, raw: str) -> SchemaView:
        data = json.loads(raw)
        return cls(fingerprint, data["default_schema"],
                   tuple((s, t, tuple((c, ty) for c, ty in cols)) for s, t, cols in data["tables"]), data["text"])


class SchemaResources:
    """One per process. `check_seconds` 0 computes the fingerprint on every read (tests, and a
    database whose schema must show at once)."""

    def __init__(self, client: redis.Redis, check_seconds: int):
        self._redis = client
        self._check_seconds = check_seconds

    def view(self, conn: Connection, policy: AccessPolicy, role: str | None) -> SchemaView:
        fingerprint = self.fingerprint(conn)
        key = f"{_ENTRY_PREFIX}{fingerprint}:{_policy_key(policy, role)}"
        try:
            raw = self._redis.get(key)
        except redis.RedisError as exc:
            log.warning("schema cache unavailable, describing from the catalog: %s", exc)
            return _build(conn, policy, role, fingerprint)
        if raw is not None:
            return SchemaView._load(fingerprint, raw)
        view = _build(conn, policy, role, fingerprint)
        try:
            self._redis.set(key, view._dump(), ex=ENTRY_TTL_SECONDS)
        except redis.RedisError as exc:
            log.warning("could not cache a schema description: %s", exc)
        return view

    def text(self, conn: Connection, policy: AccessPolicy, role: str | None) -> str:
        return self.view(conn, policy, role).text

    def fingerprint(self, conn: Connection) -> str:
        """The catalog's fingerprint as last computed within `check_seconds`, else computed now."""
        if self._check_seconds > 0:
            try:
                known = self._redis.get(FINGERPRINT_KEY)
            except redis.RedisError:
                known = None
            if known:
                return known
        row = conn.execute(FINGERPRINT_SQL).fetchone()
        fingerprint = row["fingerprint"] if isinstance(row, dict) else row[0]
        if self._check_seconds > 0:
            try:
                self._redis.set(FINGERPRINT_KEY, fingerprint, ex=self._check_seconds)
            except redis.RedisError:
                pass
        return fingerprint


def _policy_key(policy: AccessPolicy, role: str | None) -> str:
    # Everything the description depends on besides the catalog: which tables, where unqualified
    # names live (the text's names depend on it), and whose privileges filter them.
    tables = None if policy.allowed_tables is None else sorted(map(list, policy.allowed_tables))
    raw = json.dumps({"schemas": list(policy.allowed_schemas), "tables": tables, "role": role})
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _build(conn: Connection, policy: AccessPolicy, role: str | None, fingerprint: str) -> SchemaView:
    tables = read_tables(conn, policy, role)
    return SchemaView(fingerprint, policy.default_schema,
                      tuple((schema, table, tuple(columns)) for (schema, table), columns in tables.items()),
                      format_tables(tables, policy))
