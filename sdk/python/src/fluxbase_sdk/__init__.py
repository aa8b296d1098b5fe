"""Python client for the Fluxbase AI chatbot server (sdk/python/README.md)."""
from fluxbase_sdk.chat import Chat
from fluxbase_sdk.client import FluxbaseClient, create_client
from fluxbase_sdk.errors import (
    AuthError,
    ChatError,
    ConflictError,
    ConnectionError,
    FluxbaseError,
    InvalidRequestError,
    LimitError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    TimeoutError,
)
from fluxbase_sdk.events import (
    ApprovalRequired,
    ApprovalResult,
    Authenticated,
    Cancelled,
    ChatEvent,
    ChatStarted,
    Content,
    Done,
    Error,
    EventsLost,
    Progress,
    QueryResult,
    ToolResult,
    UnknownEvent,
    parse_event,
)
from fluxbase_sdk.turn import Turn

__version__ = "0.1.0"

__all__ = [
    "ApprovalRequired", "ApprovalResult", "AuthError", "Authenticated", "Cancelled", "Chat", "ChatError", "ChatEvent", "ChatStarted", "ConflictError",
    "ConnectionError", "Content", "Done", "Error", "EventsLost", "FluxbaseClient", "FluxbaseError",
    "InvalidRequestError", "LimitError", "NotFoundError", "Progress", "QueryResult", "ServerError",
    "ServiceUnavailableError", "TimeoutError", "ToolResult", "Turn", "UnknownEvent", "create_client", "parse_event",
]
