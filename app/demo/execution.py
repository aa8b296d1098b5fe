"""The execution tools' demo (docs/mcp.md): an exposed function (execution.sql) and an HTTP function.

The HTTP function `health` is this server's own /health on loopback, which the guarded client
reaches only in development; the demo job is registered in app/jobs_registry.py (app/demo/jobs.py).
"""
from __future__ import annotations

from importlib import resources

from psycopg import Connection

from app.db.connect import connect_owner
from config import Settings

SEED_HTTP_FUNCTION = """
insert into ai.http_functions (namespace, name, url, methods, description)
values ('default', 'health', %(url)s, '{GET}', 'This server''s health check: whether its database, Redis and workers answer')
on conflict (namespace, name) do nothing
"""


def load_execution_demo(conn: Connection, settings: Settings) -> None:
    conn.execute((resources.files("app.demo") / "execution.sql").read_text())
    conn.execute(SEED_HTTP_FUNCTION, {"url": f"http://127.0.0.1:{settings.port}/health"})


def ensure_execution_demo(settings: Settings) -> None:
    """The same, into a database whose demo shop is already there (every step is idempotent)."""
    with connect_owner(settings) as conn:
        if conn.execute("select to_regclass('public.order_items') is not null").fetchone()[0]:
            load_execution_demo(conn, settings)
            conn.commit()
