"""The permissions MCP tools need, and what a chatbot's file grants.

A tool declares one scope (`Tool.scope`); a chatbot holds the scopes its annotations grant, and a
tool whose scope the chatbot lacks is refused with a message naming the scope and how to grant it.
Table access still passes the chatbot's allow-lists and the end user's row-level security: a scope
is a first gate, never the only one.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

READ_TABLES = "read:tables"
WRITE_TABLES = "write:tables"
EXECUTE_FUNCTIONS = "execute:functions"
EXECUTE_RPC = "execute:rpc"
EXECUTE_JOBS = "execute:jobs"
READ_STORAGE = "read:storage"
WRITE_STORAGE = "write:storage"
READ_VECTORS = "read:vectors"

ALL_SCOPES = (READ_TABLES, WRITE_TABLES, EXECUTE_FUNCTIONS, EXECUTE_RPC, EXECUTE_JOBS,
              READ_STORAGE, WRITE_STORAGE, READ_VECTORS)

_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})
# Execution tools are granted by being named in @fluxbase:mcp-tools; what they may reach is the
# admin's allow-lists (exposed RPC functions, registered HTTP functions, registered jobs).
_NAMED_GRANTS = {"invoke_function": EXECUTE_FUNCTIONS, "invoke_rpc": EXECUTE_RPC,
                 "submit_job": EXECUTE_JOBS, "get_job_status": EXECUTE_JOBS}


def granted_scopes(config: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a chatbot's configuration grants: reads with SELECT, writes with any write operation."""
    operations = {str(op).upper() for op in config.get("allowed_operations") or ()}
    scopes: set[str] = set()
    if "SELECT" in operations:
        scopes |= {READ_TABLES, READ_STORAGE, READ_VECTORS}
    if operations & _WRITES:
        scopes |= {WRITE_TABLES, WRITE_STORAGE}
    for name in config.get("mcp_tools") or ():
        if name in _NAMED_GRANTS:
            scopes.add(_NAMED_GRANTS[name])
    return frozenset(scopes)


def missing_scope_text(tool_name: str, scope: str) -> str:
    """The refusal the model (and the audit) reads when a chatbot lacks a tool's scope."""
    how = {READ_TABLES: "add SELECT to @fluxbase:allowed-operations",
           READ_STORAGE: "add SELECT to @fluxbase:allowed-operations",
           READ_VECTORS: "add SELECT to @fluxbase:allowed-operations",
           WRITE_TABLES: "add INSERT, UPDATE or DELETE to @fluxbase:allowed-operations",
           WRITE_STORAGE: "add INSERT, UPDATE or DELETE to @fluxbase:allowed-operations"}.get(
        scope, f"name {tool_name} in @fluxbase:mcp-tools")
    return f"{tool_name} needs the {scope} scope, which this chatbot does not have ({how})"
