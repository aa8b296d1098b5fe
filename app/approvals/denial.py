"""The `deny` half of the approval policy, for callers that have nobody to ask (the MCP server).

A call a chatbot denies is refused wherever it comes from. `ask` needs a person on a chat socket;
over MCP it is left to the MCP client's own confirmation of tool calls (docs/approval.md).
"""
from __future__ import annotations

from app.approvals.preview import sql_operation
from app.chatbots.approval_rules import DENY, call_operation, mode_for
from app.tools.base import ToolContext

__all__ = ["denied_by_policy"]


def denied_by_policy(tool: str, arguments: dict, ctx: ToolContext) -> str | None:
    operation = sql_operation(ctx, arguments) if tool == "execute_sql" else call_operation(tool, arguments)
    if tool == "execute_sql" and operation is None:
        return None  # the guard refuses it in the tool
    if mode_for(ctx.chatbot_config, tool, operation, force_ask_writes=False) != DENY:
        return None
    what = f"{tool}" + (f" ({operation})" if operation else "")
    return f"Error: {what} is denied by this assistant's approval policy; nothing was run. Do not retry it."
