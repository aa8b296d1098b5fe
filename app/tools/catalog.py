"""Names and default model-facing definitions of the built-in tools.

Data only: what the model is told about each tool (`name`, `description`, and a JSON
schema for `parameters`), plus the permission scope each one needs. The code that
runs a tool lives in the tool registry; a chatbot file may reword descriptions but
never invents tools, so every tool a chatbot can offer is named here.
"""

from __future__ import annotations

import copy
from types import MappingProxyType
from typing import Any, Mapping

__all__ = ["BUILTIN_TOOLS", "TOOL_NAMES", "TOOL_SCOPES", "builtin_definition", "is_builtin"]


def _str(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = (), description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if description:
        schema["description"] = description
    return schema


_TABLE = _str("Table name, optionally schema-qualified (e.g. `orders` or `analytics.order_metrics`).")
_FILTERS = {
    "type": "object",
    "description": (
        "Column filters combined with AND. Each key is a column; each value is either a literal "
        "(equality) or an object with one operator: eq, neq, gt, gte, lt, lte, like, ilike, in, is."
    ),
    "additionalProperties": True,
}
_BUCKET = _str("Name of the storage bucket.")
_OBJECT_PATH = _str("Path of the object inside the bucket, e.g. `invoices/2024/03.pdf`.")

_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {
        "name": "execute_sql",
        "description": "Run one SQL statement against the database as the current user and return the resulting rows.",
        "parameters": _obj(
            {
                "sql": _str("A single SQL statement. Only the operations and tables this assistant is allowed may be used."),
                "description": _str("A short, human-readable summary of what the statement does, shown to the user."),
            },
            ("sql", "description"),
        ),
    },
    {
        "name": "http_get",
        "description": "Fetch a URL with an HTTP GET request. Only HTTPS URLs on the allowed domains can be fetched.",
        "parameters": _obj(
            {
                "url": _str("Absolute URL to fetch, e.g. `https://api.example.com/v1/items`.", format="uri"),
                "params": {
                    "type": "object",
                    "description": "Query-string parameters to add to the URL.",
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
            ("url",),
        ),
    },
    {
        "name": "query_table",
        "description": "Read rows from a table with optional filters, ordering, pagination and semantic vector search.",
        "parameters": _obj(
            {
                "table": _TABLE,
                "select": {"type": "array", "items": {"type": "string"}, "description": "Columns to return; all columns when omitted."},
                "filters": _FILTERS,
                "order_by": _str("Column to sort by; prefix with `-` for descending order."),
                "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20, "description": "Maximum rows to return."},
                "offset": {"type": "integer", "minimum": 0, "default": 0, "description": "Rows to skip, for pagination."},
                "vector_search": _obj(
                    {
                        "query": _str("Text to search for by meaning."),
                        "column": _str("Embedding column to compare against."),
                        "threshold": {"type": "number", "minimum": 0, "maximum": 1, "description": "Minimum similarity (0-1)."},
                    },
                    ("query",),
                    "Rank rows by semantic similarity to a text instead of (or in addition to) filtering.",
                ),
            },
            ("table",),
        ),
    },
    {
        "name": "insert_record",
        "description": "Insert one record into a table and return the stored row.",
        "parameters": _obj(
            {"table": _TABLE, "record": {"type": "object", "description": "Column values for the new row.", "additionalProperties": True}},
            ("table", "record"),
        ),
    },
    {
        "name": "update_record",
        "description": "Update the records of a table that match the filters and return the changed rows.",
        "parameters": _obj(
            {
                "table": _TABLE,
                "filters": _FILTERS,
                "changes": {"type": "object", "description": "Column values to set.", "additionalProperties": True},
            },
            ("table", "filters", "changes"),
        ),
    },
    {
        "name": "delete_record",
        "description": "Delete the records of a table that match the filters and return how many were removed.",
        "parameters": _obj({"table": _TABLE, "filters": _FILTERS}, ("table", "filters")),
    },
    {
        "name": "invoke_function",
        "description": "Call an edge function by name and return its response.",
        "parameters": _obj(
            {
                "function": _str("Name of the edge function."),
                "body": {"description": "JSON body sent to the function."},
                "headers": {"type": "object", "description": "Extra request headers.", "additionalProperties": {"type": "string"}},
                "method": _str("HTTP method.", enum=["GET", "POST", "PUT", "PATCH", "DELETE"], default="POST"),
            },
            ("function",),
        ),
    },
    {
        "name": "invoke_rpc",
        "description": "Call a database procedure (RPC) with named arguments and return its result.",
        "parameters": _obj(
            {
                "function": _str("Procedure name, optionally schema-qualified."),
                "args": {"type": "object", "description": "Named arguments for the procedure.", "additionalProperties": True},
            },
            ("function",),
        ),
    },
    {
        "name": "submit_job",
        "description": "Queue a background job; returns a job id to check later with get_job_status.",
        "parameters": _obj(
            {
                "job": _str("Name of the job to run."),
                "payload": {"type": "object", "description": "Input passed to the job.", "additionalProperties": True},
                "priority": {"type": "integer", "minimum": 0, "maximum": 10, "description": "Higher runs sooner."},
            },
            ("job",),
        ),
    },
    {
        "name": "get_job_status",
        "description": "Report the status, progress and (when finished) the result of a submitted job.",
        "parameters": _obj({"job_id": _str("Id returned by submit_job.")}, ("job_id",)),
    },
    {
        "name": "list_objects",
        "description": "List the objects in a storage bucket, optionally under a path prefix.",
        "parameters": _obj(
            {
                "bucket": _BUCKET,
                "prefix": _str("Only list objects whose path starts with this prefix."),
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100, "description": "Maximum objects to list."},
            },
            ("bucket",),
        ),
    },
    {
        "name": "upload_object",
        "description": "Store a text or base64-encoded file in a storage bucket.",
        "parameters": _obj(
            {
                "bucket": _BUCKET,
                "path": _OBJECT_PATH,
                "content": _str("File content: plain text, or base64 when `encoding` is `base64`."),
                "encoding": _str("How `content` is encoded.", enum=["text", "base64"], default="text"),
                "content_type": _str("MIME type, e.g. `text/csv`."),
            },
            ("bucket", "path", "content"),
        ),
    },
    {
        "name": "download_object",
        "description": "Read a file from a storage bucket; text is returned as is, binary content as base64.",
        "parameters": _obj({"bucket": _BUCKET, "path": _OBJECT_PATH}, ("bucket", "path")),
    },
    {
        "name": "delete_object",
        "description": "Delete a file from a storage bucket.",
        "parameters": _obj({"bucket": _BUCKET, "path": _OBJECT_PATH}, ("bucket", "path")),
    },
    {
        "name": "search_vectors",
        "description": "Find the rows of a table whose embeddings are most similar in meaning to a text.",
        "parameters": _obj(
            {
                "table": _TABLE,
                "query": _str("Text to search for by meaning."),
                "column": _str("Embedding column; the table's only vector column when omitted."),
                "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5, "description": "Maximum matches to return."},
                "threshold": {"type": "number", "minimum": 0, "maximum": 1, "description": "Minimum similarity (0-1)."},
            },
            ("table", "query"),
        ),
    },
    {
        "name": "search_knowledge_base",
        "description": "Search the chatbot's knowledge bases for passages relevant to a question.",
        "parameters": _obj(
            {
                "query": _str("The question or topic to look up."),
                "knowledge_base": _str("Search only this knowledge base; all linked ones when omitted."),
                "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5, "description": "Maximum passages to return."},
            },
            ("query",),
        ),
    },
)

BUILTIN_TOOLS: Mapping[str, Mapping[str, Any]] = MappingProxyType({d["name"]: d for d in _DEFINITIONS})
TOOL_NAMES: tuple[str, ...] = tuple(BUILTIN_TOOLS)

# Permission a caller needs for each tool; `execute_sql` and `http_get` are gated by the
# chatbot's own allow-lists instead, and knowledge-base search by its linked bases.
TOOL_SCOPES: Mapping[str, str | None] = MappingProxyType(
    {
        "execute_sql": None,
        "http_get": None,
        "query_table": "read:tables",
        "insert_record": "write:tables",
        "update_record": "write:tables",
        "delete_record": "write:tables",
        "invoke_function": "execute:functions",
        "invoke_rpc": "execute:rpc",
        "submit_job": "execute:jobs",
        "get_job_status": "execute:jobs",
        "list_objects": "read:storage",
        "upload_object": "write:storage",
        "download_object": "read:storage",
        "delete_object": "write:storage",
        "search_vectors": "read:vectors",
        "search_knowledge_base": None,
    }
)


def is_builtin(name: str) -> bool:
    return name in BUILTIN_TOOLS


def builtin_definition(name: str) -> dict[str, Any]:
    """A fresh, mutable copy of a built-in definition (KeyError for unknown names)."""
    return copy.deepcopy(dict(BUILTIN_TOOLS[name]))
