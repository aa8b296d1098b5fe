"""Running SQL as an end user does: the authenticator login, then a role and JWT claims for one transaction."""
from __future__ import annotations

import json

import psycopg

from config import Settings


def as_user(settings: Settings, role: str, claims: dict | None, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(settings.authenticator_url) as conn:
        with conn.transaction():
            conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                         (role, json.dumps(claims) if claims is not None else ""))
            return conn.execute(sql, params).fetchall()
