"""The tools this server can run, and the registry a chatbot selects from by name.

`default_registry()` is the one list of built-in tools: adding a tool means writing it (a `Tool`
in its own module) and adding it there. Built-in tools are registered exactly like any extra one.
What the model is told about a tool comes from the tool itself, so a chatbot is never offered
a description of something the server cannot run.

A tool's failure never ends the turn: `ToolError` (and any unexpected exception) becomes text
the model reads as the tool's result.
"""
from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterable
from typing import Any

from app.text import storable, storable_json
from app.tools.base import Tool, ToolContext, ToolError
from app.tools.describe_table import DESCRIBE_TABLE
from app.tools.execution_tools import EXECUTION_TOOLS
from app.tools.http_get import HTTP_GET
from app.tools.scopes import granted_scopes, missing_scope_text
from app.tools.sql_tool import EXECUTE_SQL
from app.tools.storage_tools import STORAGE_TOOLS
from app.tools.table_tools import DATA_TOOLS
from app.tools.vector_tool import SEARCH_VECTORS

# Tool, ToolContext and ToolError are re-exported: the loop and older callers import them from here.
__all__ = ["DuplicateTool", "Tool", "ToolContext", "ToolError", "ToolRegistry", "default_registry"]

log = logging.getLogger(__name__)


class DuplicateTool(ValueError):
    """Two tools with one name: the model could not tell them apart."""


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise DuplicateTool(f"tool {tool.name} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def definition(self, name: str) -> dict[str, Any]:
        """What the model is told about a tool, as a fresh copy a chatbot may reword (KeyError if unknown)."""
        tool = self._tools[name]
        return {"name": tool.name, "description": tool.description, "parameters": copy.deepcopy(tool.parameters)}

    def offered(self, definitions: list[dict]) -> list[dict]:
        """The chatbot's tool definitions that this server can run, in the provider's function shape.

        A sync already leaves out tools the server cannot run; one that is here anyway (stored by
        a server that could run it) is left out again, so the model is never told about it.
        """
        offered = []
        for definition in definitions:
            name = definition.get("name")
            if name not in self._tools:
                log.warning("chatbot definition offers %r, which this server cannot run; not offered", name)
                continue
            offered.append({"name": name, "description": definition.get("description", ""),
                            "parameters": definition.get("parameters", {})})
        return offered

    def invoke(self, name: str, raw_arguments: str, context: ToolContext, offered: set[str]) -> str:
        result = self._invoke(name, raw_arguments, context, offered)
        # A tool may return a secret it was never given (a row, a page echoing a header): not to the model.
        return context.scrub(result) if context.scrub is not None else result

    def _invoke(self, name: str, raw_arguments: str, context: ToolContext, offered: set[str]) -> str:
        tool = self._tools.get(name)
        if tool is None or name not in offered:
            return f"Error: tool {name!r} is not available to this chatbot"
        try:
            arguments = json.loads(raw_arguments or "{}")
        except json.JSONDecodeError as exc:
            return f"Error: the arguments were not valid JSON ({exc.msg})"
        except RecursionError:
            return "Error: the arguments are nested too deeply"
        if not isinstance(arguments, dict):
            return "Error: the arguments must be a JSON object"
        refusal = _scope_refusal(tool, context)
        if refusal is not None:
            if tool.on_refused is not None:
                try:
                    tool.on_refused(context, storable_json(arguments), refusal)
                except Exception:  # recording the refusal must not turn it into something else
                    log.exception("tool %s could not record a scope refusal", name)
            return storable(f"Error: {refusal}")
        # JSON escapes (\u0000, a lone \ud800) reach the tool as characters PostgreSQL refuses.
        arguments = storable_json(arguments)
        try:
            if context.approval is not None:
                # A call set to `ask` waits here for the user; `deny` never runs (docs/approval.md).
                withheld = context.approval(name, arguments, context)
                if withheld is not None:
                    return storable(withheld)
            return storable(tool.run(context, arguments))
        except ToolError as exc:
            return storable(f"Error: {exc}")
        except Exception:
            log.exception("tool %s failed", name)
            return f"Error: the tool {name} failed unexpectedly"


def _scope_refusal(tool: Tool, context: ToolContext) -> str | None:
    """Why the chatbot may not call this tool at all (its scope is not granted), or None.

    Checked for every call, before the tool's own checks: a tool offered by an older sync, or
    named in a file whose operations do not grant its scope, still cannot run."""
    if tool.scope is None or tool.scope in granted_scopes(context.chatbot_config or {}):
        return None
    return missing_scope_text(tool.name, tool.scope)


def default_registry() -> ToolRegistry:
    """A fresh registry of the built-in tools (fresh, so a caller that adds its own changes only its copy)."""
    return ToolRegistry((EXECUTE_SQL, HTTP_GET, *STORAGE_TOOLS, *DATA_TOOLS, SEARCH_VECTORS, *EXECUTION_TOOLS,
                         DESCRIBE_TABLE))
