"""HTTP functions an admin registered for a namespace (ai.http_functions): a name, a URL and its methods."""
from __future__ import annotations

from dataclasses import dataclass

from psycopg import Connection
from psycopg.rows import dict_row

__all__ = ["HttpFunction", "UnknownFunction", "find_http_function", "http_functions"]

LIST = """
select name, url, methods, description from ai.http_functions where namespace = %(namespace)s order by name
"""


class UnknownFunction(LookupError):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HttpFunction:
    name: str
    url: str
    methods: tuple[str, ...]
    description: str


def http_functions(conn: Connection, namespace: str) -> list[HttpFunction]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(LIST, {"namespace": namespace}).fetchall()
    return [HttpFunction(r["name"], r["url"], tuple(r["methods"]), r["description"]) for r in rows]


def find_http_function(conn: Connection, namespace: str, name: object) -> HttpFunction:
    if not isinstance(name, str) or not name.strip():
        raise UnknownFunction("`name` must be the name of a registered function")
    registered = http_functions(conn, namespace)
    for function in registered:
        if function.name == name.strip():
            return function
    listed = ", ".join(f"{f.name} ({'/'.join(f.methods)})" for f in registered) or "none"
    raise UnknownFunction(f"no function named {name[:100]!r} is registered for this chatbot (registered: {listed})")
