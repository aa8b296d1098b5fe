"""describe_table: the full description of one table the chatbot may read (columns with types and
comments, foreign keys), for the tables schema retrieval left out of the prompt (workers/schema_step.py
offers it then).

The same filter as the prompt's schema: the chatbot's allowed tables and schemas, and the end user's
role must be able to SELECT it. A table that does not exist and one the user may not read get the same
answer, so the tool cannot be used to find out what exists.
"""
from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from app.chat.schema_catalog import describe, display_name, read_catalog
from app.sql.guard import AccessPolicy
from app.tools.base import Tool, ToolContext, ToolError
from app.tools.scopes import READ_TABLES
from app.tools.sql_tool import chatbot_access_policy
from app.tools.table_access import parse_table_name

__all__ = ["DESCRIBE_TABLE", "resolve_table"]


def resolve_table(value: Any, policy: AccessPolicy) -> tuple[str, str] | None:
    """(schema, table) for a name as the model writes it, if it is a well-formed name the policy allows."""
    try:
        key = parse_table_name(value, policy.default_schema)
    except ToolError:
        return None
    return key if policy.allows_table(*key) else None


def _run(ctx: ToolContext, arguments: dict) -> str:
    policy = chatbot_access_policy(ctx.chatbot_config)
    if policy is None:
        raise ToolError("This assistant may not read any table")
    key = parse_table_name(arguments.get("table"), policy.default_schema)
    with ctx.services.db.connection() as conn:
        found = read_catalog(conn, policy, ctx.role, only=key) if policy.allows_table(*key) else {}
        if key in found:
            return describe(found[key], policy.default_schema)
        names = [display_name(other, policy.default_schema) for other in read_catalog(conn, policy, ctx.role)]
    hint = get_close_matches(display_name(key, policy.default_schema), names, n=3, cutoff=0.5)
    raise ToolError(f"No table {display_name(key, policy.default_schema)!r} among the tables you may use"
                    + (f"; did you mean {', '.join(hint)}?" if hint else ""))


DESCRIBE_TABLE = Tool(
    name="describe_table",
    description="Describe one database table you may use: its columns with types and comments, and its "
                "foreign keys. Use it for a table not described in your instructions before querying it.",
    parameters={
        "type": "object",
        "properties": {
            "table": {"type": "string", "description": "The table's name, as `table` or `schema.table`."},
        },
        "required": ["table"],
    },
    scope=READ_TABLES,
    run=_run,
)
