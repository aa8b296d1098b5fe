"""`@fluxbase:approval`: which tool calls run at once, wait for the user's approval, or never run.

A file writes a comma list of `TOOL=MODE` or `TOOL:OPERATION=MODE` (MODE is allow, ask or deny),
for example `insert_record=ask, execute_sql:DELETE=deny, execute_sql:UPDATE=ask`. It is stored
normalised as a list of those strings (`insert_record=ask`), so the config stays plain JSON like
every other list annotation. No annotation means today's behaviour: every call is allowed.

The server can only make this stricter (APPROVAL_WRITES=ask forces at least `ask` on every write,
WRITE_CALLS below); a file's `allow` never lifts the server's `ask`, and a `deny` always stands.
docs/approval.md is the user-facing description.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.chatbots.values import InvalidValue, list_parser
from app.tools.catalog import UnknownTool, check_tool_name

__all__ = ["ALLOW", "ASK", "DENY", "MODES", "TOOL_OPERATIONS", "call_operation", "is_write", "mode_for",
           "parse_approval", "rules_of"]

ALLOW, ASK, DENY = "allow", "ask", "deny"
MODES: tuple[str, ...] = (ALLOW, ASK, DENY)
_STRICTNESS = {ALLOW: 0, ASK: 1, DENY: 2}

# The operations a rule may name per tool: the statement kind for execute_sql, the HTTP method for
# invoke_function. Other tools do one thing each, so a rule names the tool alone.
TOOL_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "execute_sql": ("SELECT", "INSERT", "UPDATE", "DELETE"),
    "invoke_function": ("GET", "POST", "PUT", "PATCH", "DELETE"),
}

# Calls that change something: what APPROVAL_WRITES=ask holds for approval. Tools with an
# operation are writes only for the operations listed.
_WRITE_TOOLS = frozenset({"insert_record", "update_record", "delete_record", "upload_object", "delete_object",
                          "submit_job"})
_WRITE_OPERATIONS: Mapping[str, frozenset[str]] = {
    "execute_sql": frozenset({"INSERT", "UPDATE", "DELETE"}),
    "invoke_function": frozenset({"POST", "PUT", "PATCH", "DELETE"}),
}


def _rule(item: str) -> str:
    target, sep, mode = item.partition("=")
    target, mode = target.strip(), mode.strip().lower()
    if not sep or not target or not mode:
        raise InvalidValue(f"{item!r}: write TOOL=MODE or TOOL:OPERATION=MODE (MODE: {', '.join(MODES)})")
    if mode not in MODES:
        raise InvalidValue(f"{item!r}: unknown mode {mode!r} (use {', '.join(MODES)})")
    tool, colon, operation = target.partition(":")
    tool, operation = tool.strip().lower(), operation.strip().upper()
    try:
        check_tool_name(tool)
    except UnknownTool as exc:
        raise InvalidValue(f"{item!r}: {exc}") from None
    if colon:
        allowed = TOOL_OPERATIONS.get(tool)
        if allowed is None:
            raise InvalidValue(f"{item!r}: {tool} has no operations to name; write {tool}={mode}")
        if operation not in allowed:
            raise InvalidValue(f"{item!r}: unknown operation {operation or '(none)'!r} for {tool} "
                               f"(allowed: {', '.join(allowed)})")
        return f"{tool}:{operation}={mode}"
    return f"{tool}={mode}"


_parse_items = list_parser(_rule)


def parse_approval(value: Any) -> list[str]:
    """The rules, normalised; a target given twice with different modes is an error, not a guess."""
    rules = _parse_items(value)
    seen: dict[str, str] = {}
    for rule in rules:
        target, _, mode = rule.rpartition("=")
        if target in seen and seen[target] != mode:
            raise InvalidValue(f"{target} is given twice ({seen[target]} and {mode})")
        seen[target] = mode
    return rules


def rules_of(config: Mapping[str, Any]) -> dict[str, str]:
    """target (`tool` or `tool:OPERATION`) -> mode, from a stored config (absent in older ones)."""
    out: dict[str, str] = {}
    for rule in config.get("approval") or ():
        target, _, mode = str(rule).rpartition("=")
        if mode in MODES and target:
            out[target] = mode
    return out


def call_operation(tool: str, arguments: Mapping[str, Any], sql_operation: str | None = None) -> str | None:
    """The operation a call performs, as rules name it: execute_sql's statement kind (the guard's,
    passed in), invoke_function's method (POST when the call names none: counted as a write,
    the stricter guess), None for other tools."""
    if tool == "execute_sql":
        return sql_operation
    if tool == "invoke_function":
        method = arguments.get("method")
        return method.upper() if isinstance(method, str) and method.strip() else "POST"
    return None


def is_write(tool: str, operation: str | None) -> bool:
    if tool in _WRITE_TOOLS:
        return True
    writes = _WRITE_OPERATIONS.get(tool)
    return writes is not None and operation in writes


def mode_for(config: Mapping[str, Any], tool: str, operation: str | None, *, force_ask_writes: bool) -> str:
    """allow, ask or deny for one call: the file's rule for `tool:OPERATION`, else for `tool`, else
    allow; then made at least `ask` for a write when the server says so."""
    rules = rules_of(config)
    mode = rules.get(f"{tool}:{operation}") if operation else None
    mode = mode or rules.get(tool) or ALLOW
    if force_ask_writes and is_write(tool, operation) and _STRICTNESS[mode] < _STRICTNESS[ASK]:
        return ASK
    return mode
