"""The approval policy for callers that have nobody to ask (the MCP server).

A call a chatbot denies is refused wherever it comes from. `ask` needs a person on a chat socket, so
over MCP it is refused too, unless MCP_APPROVAL=client says the MCP client's own confirmation of tool
calls is trusted instead (docs/approval.md). APPROVAL_WRITES=ask holds here as everywhere.
"""
from __future__ import annotations

from app.approvals.preview import sql_operation
from app.chatbots.approval_rules import ASK, DENY, call_operation, mode_for
from app.tools.base import ToolContext

__all__ = ["denied_by_policy"]


def denied_by_policy(tool: str, arguments: dict, ctx: ToolContext) -> str | None:
    operation = sql_operation(ctx, arguments) if tool == "execute_sql" else call_operation(tool, arguments)
    if tool == "execute_sql" and operation is None:
        return None  # the guard refuses it in the tool
    settings = ctx.services.settings
    mode = mode_for(ctx.chatbot_config, tool, operation, force_ask_writes=settings.approval_writes == "ask")
    what = f"{tool}" + (f" ({operation})" if operation else "")
    if mode == DENY:
        return f"Error: {what} is denied by this assistant's approval policy; nothing was run. Do not retry it."
    if mode == ASK and settings.mcp_approval != "client":
        return (f"Error: {what} needs a person's approval, which this MCP connection cannot ask for; nothing was "
                "run. Ask the user to make this change in the chat, where they can approve it.")
    return None
