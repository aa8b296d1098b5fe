"""Stand-in tools and tool contexts for tests of the tool loop and the registry (no database, no Redis)."""
from __future__ import annotations

from app.tools.base import Tool, ToolContext, ToolServices


def echo(run=lambda ctx, args: f"echo {args.get('x')}") -> Tool:
    return Tool(name="echo", description="echo", parameters={"type": "object"}, scope=None, run=run)


# Tools that never reach for these; one that did would fail loudly on None.
NO_SERVICES = ToolServices(settings=None, sql=None, db=None)


def make_context(emit, cancel, *, config=None, services=NO_SERVICES, secrets=None) -> ToolContext:
    return ToolContext(conversation_id="c", turn_id="t", message_id="m", chatbot_id="b", chatbot_config=config or {},
                       user_id=None, role="anon", claims={}, emit=emit, cancel=cancel, services=services,
                       secrets=secrets)
