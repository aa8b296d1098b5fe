"""Sync warnings for knowledge bases a chatbot names that do not exist in its namespace.

Like the tool warnings (app/chatbots/spec.py `tool_warnings`), they are computed when read, from
what exists now: a base created after the sync stops the warning without another sync. A missing
base is not an error: the chatbot runs, and its turns search the bases that do exist.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.rows import tuple_row

FIND_EXISTING = """SELECT name FROM ai.knowledge_bases
                    WHERE namespace = %(namespace)s AND name = ANY(%(names)s)"""


def unknown_kb_warning(name: str) -> str:
    return f"{name}: unknown knowledge base (create it with `fluxbase kb create {name}`); it is not searched"


def knowledge_base_warnings(conn: psycopg.Connection, namespace: str, config: Mapping[str, Any]) -> tuple[str, ...]:
    names = list(dict.fromkeys(config.get("knowledge_bases") or ()))
    if not names:
        return ()
    with conn.cursor(row_factory=tuple_row) as cur:
        existing = {row[0] for row in cur.execute(FIND_EXISTING, {"namespace": namespace, "names": names})}
    return tuple(unknown_kb_warning(name) for name in names if name not in existing)
