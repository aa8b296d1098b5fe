"""Which namespace an execution tool's call reaches: the chatbot's own, and no other.

The allow-lists (exposed RPC functions, HTTP functions, jobs) are kept per chatbot namespace, so
an admin exposing a function to one application's chatbots exposes it to no one else's. A call may
name the namespace (the tools' `namespace` argument) but only to say the chatbot's own.
"""
from __future__ import annotations

from psycopg import Connection

__all__ = ["NamespaceRefused", "chatbot_namespace", "reachable_namespace"]

NAMESPACE_OF = "select namespace from ai.chatbots where id = %(id)s"


class NamespaceRefused(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def chatbot_namespace(conn: Connection, chatbot_id: str) -> str | None:
    row = conn.execute(NAMESPACE_OF, {"id": chatbot_id}).fetchone()
    if row is None:
        return None
    return row["namespace"] if isinstance(row, dict) else row[0]


def reachable_namespace(conn: Connection, chatbot_id: str, requested: object) -> str:
    """The namespace to look names up in; NamespaceRefused for another one, or a malformed argument."""
    if requested is not None and not isinstance(requested, str):
        raise NamespaceRefused("`namespace` must be a string")
    own = chatbot_namespace(conn, chatbot_id)
    if own is None:
        raise NamespaceRefused("this chatbot is not registered on the server")
    if requested not in (None, "", own):
        raise NamespaceRefused(f"this chatbot can only reach its own namespace ({own!r}), not {requested[:100]!r}")
    return own
