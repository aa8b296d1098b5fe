"""The tool names a chatbot file may use: Fluxbase's documented vocabulary, names only.

A file may name any of these, so one definition works on every Fluxbase server. Whether this
server can run a tool, and what the model is told about it, is the registry's business
(`app.tools.registry`): a named tool the registry lacks is left out and reported as a warning,
never described from here. A name outside this list is a typo, and an error.
"""
from __future__ import annotations

from difflib import get_close_matches

__all__ = ["TOOL_NAMES", "UnknownTool", "check_tool_name", "is_tool_name", "unavailable_warning"]

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


class UnknownTool(ValueError):
    """A tool name that is not in the vocabulary; the message carries a did-you-mean hint."""

    def __init__(self, name: str):
        self.name = name
        hint = get_close_matches(name, TOOL_NAMES, n=1)
        super().__init__(f"unknown tool {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def is_tool_name(name: object) -> bool:
    return name in TOOL_NAMES


def check_tool_name(name: str) -> str:
    if name not in TOOL_NAMES:
        raise UnknownTool(name)
    return name


def unavailable_warning(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"
