"""Loads the demo shop into a database that does not have it yet."""
from __future__ import annotations

from importlib import resources

from app.db.connect import connect_owner
from app.demo.execution import load_execution_demo
from config import Settings

ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"


class DemoAlreadyLoaded(Exception):
    """The target database already has a shop schema; nothing was changed."""


def demo_present(settings: Settings) -> bool:
    with connect_owner(settings) as conn:
        return conn.execute("select to_regclass('public.orders') is not null").fetchone()[0]


def load_demo(settings: Settings) -> None:
    sql = (resources.files("app.demo") / "shop.sql").read_text()
    with connect_owner(settings) as conn:
        conn.execute("select pg_advisory_xact_lock(4242)")
        if conn.execute("select to_regclass('public.orders') is not null").fetchone()[0]:
            raise DemoAlreadyLoaded("public.orders already exists; the demo was not loaded")
        conn.execute(sql)
        load_execution_demo(conn, settings)
        conn.commit()
