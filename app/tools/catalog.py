"""The tool names a chatbot file may use: Fluxbase's documented vocabulary, names only.

A file may name any of these, so one definition works on every Fluxbase server. Whether this
server can run a tool, and what the model is told about it, is the registry's business
(`app.tools.registry`): a named tool the registry lacks is left out and reported as a warning,
never described from here. A name outside this list that no registered tool has is a typo, and an
error; a tool this server adds beyond Fluxbase's vocabulary is accepted by being registered.
"""
from __future__ import annotations

from difflib import get_close_matches

from app.tools.registry import default_registry

__all__ = ["TOOL_NAMES", "UnknownTool", "check_tool_name", "is_tool_name", "known_names", "unavailable_warning"]

TOOL_NAMES: tuple[str, ...] = (
    "execute_sql",
    "http_get",
    "query_table",
    "insert_record",
    "update_record",
    "delete_record",
    "invoke_function",
    "invoke_rpc",
    "submit_job",
    "get_job_status",
    "list_objects",
    "upload_object",
    "download_object",
    "delete_object",
    "search_vectors",
    "search_knowledge_base",
)


def known_names() -> tuple[str, ...]:
    """Fluxbase's vocabulary, and any tool registered beyond it."""
    extra = tuple(name for name in default_registry().names() if name not in TOOL_NAMES)
    return TOOL_NAMES + extra


class UnknownTool(ValueError):
    """A tool name that is not in the vocabulary; the message carries a did-you-mean hint."""

    def __init__(self, name: str):
        self.name = name
        hint = get_close_matches(name, known_names(), n=1)
        super().__init__(f"unknown tool {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def is_tool_name(name: object) -> bool:
    return name in known_names()


def check_tool_name(name: str) -> str:
    if name not in known_names():
        raise UnknownTool(name)
    return name


def unavailable_warning(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"
