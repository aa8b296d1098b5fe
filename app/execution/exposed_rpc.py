"""PostgreSQL functions an admin exposed to a namespace (ai.exposed_rpc), and the call invoke_rpc makes.

The call is `select * from schema.fn(a => $1, b => $2)`: the schema, function and parameter names
are identifiers checked against the catalog and quoted by psycopg.sql, every value is a bound
parameter. Values are sent untyped (PostgreSQL's `unknown`), so the function's own parameter types
decide how the text is read ('42' becomes an integer, '2026-01-31' a date) exactly as for a quoted
literal, and overloads resolve as they would in SQL. A JSON array for an array-typed parameter is
sent as a PostgreSQL array literal; any other array or object as its JSON text (for json/jsonb).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg import sql as pgsql
from psycopg.rows import dict_row

__all__ = ["ExposedFunction", "MAX_PARAMS", "NotCallable", "RpcCall", "build_call", "exposed_functions",
           "find_exposed", "load_signature"]

MAX_PARAMS = 50
MAX_PARAMS_BYTES = 64 * 1024
MAX_SHOWN_CHARS = 20_000

EXPOSED = """
select schema_name, function_name, description, allow_security_definer
  from ai.exposed_rpc where namespace = %(namespace)s order by schema_name, function_name
"""

# One row per overload; `args` lists every argument with its mode (i in, o out, b inout, v variadic, t table).
SIGNATURE = """
select p.prokind, p.prosecdef, p.pronargdefaults,
       (select coalesce(jsonb_agg(jsonb_build_object('name', coalesce(a.name, ''), 'mode', a.mode::text,
                                                     'type', format_type(a.type, null),
                                                     'array', t.typcategory = 'A') order by a.n), '[]'::jsonb)
          from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                      coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])),
                      p.proargnames) with ordinality as a(type, mode, name, n)
          join pg_type t on t.oid = a.type) as args
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = %(schema)s and p.proname = %(function)s
"""

_INPUT_MODES = frozenset({"i", "b", "v"})


class NotCallable(Exception):
    """The function is not exposed, not there, or cannot be called by invoke_rpc; `reason` says which."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ExposedFunction:
    schema: str
    name: str
    description: str
    allow_security_definer: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    is_array: bool
    required: bool


@dataclass(frozen=True)
class Signature:
    parameters: tuple[Parameter, ...]   # inputs of every overload, by name (the first overload's type shown)
    overloaded: bool

    def text(self) -> str:
        return ", ".join(f"{p.name} {p.type}" + ("" if p.required else " (optional)") for p in self.parameters)


@dataclass(frozen=True)
class RpcCall:
    statement: pgsql.Composed   # what runs: placeholders only
    params: list[str | None]
    shown: str                  # what the client, the model and the audit see: values as literals


def exposed_functions(conn: Connection, namespace: str) -> list[ExposedFunction]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(EXPOSED, {"namespace": namespace}).fetchall()
    return [ExposedFunction(r["schema_name"], r["function_name"], r["description"], r["allow_security_definer"])
            for r in rows]


def find_exposed(conn: Connection, namespace: str, name: object) -> ExposedFunction:
    """The exposed function `name` ('fn' or 'schema.fn') names; NotCallable otherwise, listing what is exposed."""
    if not isinstance(name, str) or not name.strip():
        raise NotCallable("`name` must be the function's name, such as order_total or public.order_total")
    exposed = exposed_functions(conn, namespace)
    schema, dot, function = name.strip().rpartition(".")
    matches = [f for f in exposed if f.name == function and (not dot or f.schema == schema)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotCallable(f"{function!r} is exposed in several schemas; name one of "
                          f"{', '.join(f.qualified for f in matches)}")
    listed = ", ".join(f.qualified for f in exposed) or "none"
    raise NotCallable(f"no function named {name[:130]!r} is exposed to this chatbot (exposed: {listed})")


def load_signature(conn: Connection, function: ExposedFunction) -> Signature:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SIGNATURE, {"schema": function.schema, "function": function.name}).fetchall()
    if not rows:
        raise NotCallable(f"{function.qualified} is exposed but does not exist in the database")
    by_name: dict[str, Parameter] = {}
    for row in rows:
        if row["prokind"] != "f":
            kind = {"p": "a procedure", "a": "an aggregate", "w": "a window function"}.get(row["prokind"], "not a function")
            raise NotCallable(f"{function.qualified} is {kind}; only plain functions can be called")
        if row["prosecdef"] and not function.allow_security_definer:
            raise NotCallable(f"{function.qualified} is SECURITY DEFINER (it would run with its owner's rights, "
                              "past row-level security); its exposure does not allow that")
        inputs = [a for a in row["args"] if a["mode"] in _INPUT_MODES]
        if any(a["mode"] == "v" for a in inputs):
            raise NotCallable(f"{function.qualified} takes VARIADIC arguments, which cannot be passed by name")
        if any(not a["name"] for a in inputs):
            raise NotCallable(f"{function.qualified} has unnamed parameters; only named parameters can be passed")
        required = len(inputs) - (row["pronargdefaults"] or 0)
        for position, arg in enumerate(inputs):
            known = by_name.get(arg["name"])
            needed = position < required and (known is None or known.required) and len(rows) == 1
            by_name[arg["name"]] = Parameter(arg["name"], arg["type"] if known is None else known.type,
                                             arg["array"] and (known is None or known.is_array), needed)
    return Signature(tuple(by_name.values()), overloaded=len(rows) > 1)


def build_call(function: ExposedFunction, signature: Signature, params: object) -> RpcCall:
    """The statement for these arguments; NotCallable for an unknown, missing or oversized parameter."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise NotCallable("`params` must be an object of parameter names to values")
    if len(params) > MAX_PARAMS:
        raise NotCallable(f"at most {MAX_PARAMS} parameters")
    if len(json.dumps(params, ensure_ascii=False).encode("utf-8")) > MAX_PARAMS_BYTES:
        raise NotCallable(f"`params` are larger than {MAX_PARAMS_BYTES // 1024} KiB")
    known = {p.name: p for p in signature.parameters}
    unknown = [name for name in params if name not in known]
    if unknown:
        raise NotCallable(f"{function.qualified} has no parameter {unknown[0][:63]!r} "
                          f"(its parameters: {signature.text() or 'none'})")
    missing = [p.name for p in signature.parameters if p.required and p.name not in params]
    if missing:
        raise NotCallable(f"{function.qualified} needs the parameter {missing[0]!r} "
                          f"(its parameters: {signature.text()})")
    names = list(params)
    values = [_as_text(params[name], known[name].is_array) for name in names]
    target = pgsql.SQL("{}.{}").format(pgsql.Identifier(function.schema), pgsql.Identifier(function.name))
    arguments = pgsql.SQL(", ").join(pgsql.SQL("{} => {}").format(pgsql.Identifier(name), pgsql.Placeholder())
                                     for name in names)
    statement = pgsql.SQL("select * from {}({})").format(target, arguments)
    shown_arguments = ", ".join(f"{_ident(name)} => {_literal(value)}" for name, value in zip(names, values))
    shown = f"select * from {_ident(function.schema)}.{_ident(function.name)}({shown_arguments})"
    if len(shown) > MAX_SHOWN_CHARS:  # echoed to the client and kept in the audit: as execute_sql caps its text
        shown = shown[:MAX_SHOWN_CHARS] + "…"
    return RpcCall(statement, values, shown)


def _as_text(value: Any, is_array: bool) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and is_array:
        return _array_literal(value)
    return json.dumps(value, ensure_ascii=False)


def _array_literal(items: list) -> str:
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(_array_literal(item))
        else:
            text = _as_text(item, False) or ""
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def _ident(name: str) -> str:
    return name if name.isidentifier() and name.islower() and name.isascii() else '"' + name.replace('"', '""') + '"'


def _literal(value: str | None) -> str:
    # Display only: the statement that runs binds the value.
    return "null" if value is None else "'" + value.replace("'", "''") + "'"
