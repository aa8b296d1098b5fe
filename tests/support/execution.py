"""Execution-tool tests' helpers: a real chatbot in a namespace of its own, real tool services, and one
registry call as a user of that chatbot (keeping what the client was sent)."""
from __future__ import annotations

import json
import uuid

from app.chatbots.sync_service import sync_payload
from app.tools.base import ToolContext, ToolServices
from app.tools.registry import ToolRegistry, default_registry
from workers.cancellation import TurnCancellation

EXECUTION = ("invoke_rpc", "invoke_function", "submit_job", "get_job_status")


def chatbot_code(tools=EXECUTION, *, tables: str = "orders,order_items,products") -> str:
    return ("/**\n * Exec\n * @fluxbase:description Execution tools test\n"
            f" * @fluxbase:allowed-tables {tables}\n * @fluxbase:allowed-operations SELECT\n"
            f" * @fluxbase:mcp-tools {','.join(tools)}\n * @fluxbase:rate-limit 600\n */\n"
            "export default `Use the tools.`;\n")


class Bot:
    """A synced chatbot (namespace `exec-<random>`) with its id and stored config."""

    def __init__(self, settings, owner_conn, tools=EXECUTION, name: str = "exec"):
        self.namespace = f"exec-{uuid.uuid4().hex[:8]}"
        self.name = name
        report = sync_payload(settings, namespace=self.namespace, chatbots=[{"name": name, "code": chatbot_code(tools)}],
                              delete_missing=False, dry_run=False)
        assert not report.errors, report.errors
        self.id, self.config = owner_conn.execute(
            "select id::text, config from ai.chatbots where namespace = %s and name = %s",
            (self.namespace, name)).fetchone()


class Call:
    def __init__(self, services: ToolServices, bot: Bot, user: str | None, registry: ToolRegistry | None = None):
        self.services, self.bot, self.user = services, bot, user
        self.registry = registry or default_registry()
        self.events: list[dict] = []
        self.turn_id = str(uuid.uuid4())

    def context(self) -> ToolContext:
        role = "authenticated" if self.user else "anon"
        claims = {"sub": self.user, "role": role} if self.user else {"role": "anon"}
        return ToolContext(conversation_id=None, turn_id=self.turn_id, message_id="m", chatbot_id=self.bot.id,
                           chatbot_config=self.bot.config, user_id=self.user, role=role, claims=claims,
                           emit=self.events.append, cancel=TurnCancellation().token, services=self.services)

    def __call__(self, tool: str, arguments) -> str:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return self.registry.invoke(tool, raw, self.context(), set(self.registry.names()))

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]
