"""Names as a model should write them in SQL: plain when they are plain, double-quoted otherwise.

A table or column named `weird "name"; x` shown raw in a prompt reads as a name, a type and more
text; quoted, it is one identifier the model can copy into a statement as it is.
"""
from __future__ import annotations

import re

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def sql_name(name: str) -> str:
    return name if _PLAIN.fullmatch(name) else '"' + name.replace('"', '""') + '"'


def sql_qualified(schema: str, name: str, default_schema: str) -> str:
    """`name`, or `schema.name` outside the default schema, each part quoted if it needs it."""
    return sql_name(name) if schema == default_schema else f"{sql_name(schema)}.{sql_name(name)}"
