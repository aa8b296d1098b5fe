"""Admin changes to the execution allow-lists (the CLI's `fluxbase execution ...`), each input validated.

Exposing a function does not grant it: the admin still gives the end-user roles EXECUTE (and
revokes PUBLIC's), which stays a database decision.
"""
from __future__ import annotations

import re

from psycopg import Connection

from app.chatbots.spec import is_valid_name
from app.execution.exposed_rpc import ExposedFunction, exposed_functions
from app.execution.http_functions import HttpFunction, http_functions
from app.net.errors import UrlRefused
from app.net.urls import parse_url

__all__ = ["InvalidEntry", "METHODS", "add_http_function", "expose_rpc", "listing", "remove_http_function",
           "unexpose_rpc"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_FUNCTION_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")

EXPOSE = """
insert into ai.exposed_rpc (namespace, schema_name, function_name, description, allow_security_definer)
values (%(namespace)s, %(schema)s, %(function)s, %(description)s, %(definer)s)
on conflict (namespace, schema_name, function_name)
do update set description = excluded.description, allow_security_definer = excluded.allow_security_definer
"""
UNEXPOSE = """
delete from ai.exposed_rpc where namespace = %(namespace)s and schema_name = %(schema)s
   and function_name = %(function)s
"""
FUNCTION_EXISTS = """
select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname = %(schema)s and p.proname = %(function)s limit 1
"""
ADD_FUNCTION = """
insert into ai.http_functions (namespace, name, url, methods, description)
values (%(namespace)s, %(name)s, %(url)s, %(methods)s, %(description)s)
on conflict (namespace, name) do update set url = excluded.url, methods = excluded.methods,
                                            description = excluded.description
"""
REMOVE_FUNCTION = "delete from ai.http_functions where namespace = %(namespace)s and name = %(name)s"


class InvalidEntry(ValueError):
    """An allow-list entry that cannot be written as given; the message says why."""


def _namespace(value: str) -> str:
    if not is_valid_name(value):
        raise InvalidEntry(f"namespace {value[:70]!r} must be lower-case letters, digits, '_' or '-' (1-63)")
    return value


def _qualified(value: str) -> tuple[str, str]:
    schema, dot, function = value.partition(".")
    if not dot or not schema or not function or "." in function or len(schema) > 63 or len(function) > 63 \
            or "\x00" in value:
        raise InvalidEntry(f"{value[:130]!r} must be schema.function (e.g. public.order_total)")
    return schema, function


def expose_rpc(conn: Connection, namespace: str, qualified: str, description: str = "",
               allow_security_definer: bool = False) -> ExposedFunction:
    schema, function = _qualified(qualified)
    params = {"namespace": _namespace(namespace), "schema": schema, "function": function,
              "description": description, "definer": allow_security_definer}
    if conn.execute(FUNCTION_EXISTS, params).fetchone() is None:
        raise InvalidEntry(f"there is no function {schema}.{function} in the database")
    conn.execute(EXPOSE, params)
    return ExposedFunction(schema, function, description, allow_security_definer)


def unexpose_rpc(conn: Connection, namespace: str, qualified: str) -> bool:
    schema, function = _qualified(qualified)
    cur = conn.execute(UNEXPOSE, {"namespace": _namespace(namespace), "schema": schema, "function": function})
    return cur.rowcount > 0


def add_http_function(conn: Connection, namespace: str, name: str, url: str, methods: list[str],
                      description: str = "") -> HttpFunction:
    if not _FUNCTION_NAME.fullmatch(name):
        raise InvalidEntry(f"function name {name[:70]!r} must be lower-case letters, digits, '.', '_' or '-' (1-63)")
    try:
        parse_url(url)  # the strict parser the guarded client applies on every call
    except UrlRefused as exc:
        raise InvalidEntry(f"the URL is refused: {exc.reason}") from None
    wanted = tuple(dict.fromkeys(m.strip().upper() for m in methods if m.strip()))
    bad = [m for m in wanted if m not in METHODS]
    if not wanted or bad:
        raise InvalidEntry(f"methods must be some of {', '.join(METHODS)}" + (f" (not {bad[0]})" if bad else ""))
    conn.execute(ADD_FUNCTION, {"namespace": _namespace(namespace), "name": name, "url": url,
                                "methods": list(wanted), "description": description})
    return HttpFunction(name, url, wanted, description)


def remove_http_function(conn: Connection, namespace: str, name: str) -> bool:
    return conn.execute(REMOVE_FUNCTION, {"namespace": _namespace(namespace), "name": name}).rowcount > 0


def listing(conn: Connection, namespace: str) -> tuple[list[ExposedFunction], list[HttpFunction]]:
    namespace = _namespace(namespace)
    return exposed_functions(conn, namespace), http_functions(conn, namespace)
