"""Runnable tools and the registry a chatbot selects from by name.

Built-in tools are registered exactly like any extra one. A tool's failure never ends the turn:
`ToolError` (and any unexpected exception) becomes text the model reads as the tool's result.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


class ToolError(Exception):
    """A refusal or failure the model should read and may recover from."""


@dataclass(frozen=True)
class ToolContext:
    """Everything a tool may know about the turn it runs in. Secrets are not here."""

    conversation_id: str
    turn_id: str
    message_id: str
    chatbot_id: str
    chatbot_config: dict
    user_id: str | None
    role: str
    claims: dict
    emit: Callable[[dict], None]
    cancel: Any  # app.sql.cancel.CancelToken


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    run: Callable[[ToolContext, dict], str]


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def offered(self, definitions: list[dict]) -> list[dict]:
        """The chatbot's tool definitions that this server can run, in the provider's function shape."""
        return [{"name": d["name"], "description": d.get("description", ""), "parameters": d.get("parameters", {})}
                for d in definitions if d.get("name") in self._tools]

    def invoke(self, name: str, raw_arguments: str, context: ToolContext, offered: set[str]) -> str:
        tool = self._tools.get(name)
        if tool is None or name not in offered:
            return f"Error: tool {name!r} is not available to this chatbot"
        try:
            arguments = json.loads(raw_arguments or "{}")
        except json.JSONDecodeError as exc:
            return f"Error: the arguments were not valid JSON ({exc.msg})"
        if not isinstance(arguments, dict):
            return "Error: the arguments must be a JSON object"
        try:
            return tool.run(context, arguments)
        except ToolError as exc:
            return f"Error: {exc}"
        except Exception:
            log.exception("tool %s failed", name)
            return f"Error: the tool {name} failed unexpectedly"
