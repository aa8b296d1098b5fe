"""One MCP `tools/call`: the chatbot's tool, through the same registry and checks as in a chat turn.

The ToolContext is built as a turn builds it (workers/turn.py `_tool_context`): the chatbot's config,
the end user's role and claims, the secrets the chatbot's prompt may use (for http_get, and scrubbed
from every result). There is no conversation: each call gets a fresh id, used as conversation, turn
and message id, so its SQL audit entries are told apart from turns' and from each other.

Events a tool emits for a chat client have no socket here. `query_result` and `tool_result` ones are
collected and returned as the call's structured content (`{"results": [...]}`, each the event as a
WebSocket client would get it, rows included), beside the text the model would read; progress events
are dropped.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from app import protocol
from app.approvals.denial import denied_by_policy
from app.chat.templates import load_settings, scopes_of
from app.mcp_server.access import Caller
from app.mcp_server.services import McpServices
from app.secrets import scrub
from app.settings_store.turn_secrets import NO_TURN_SECRETS, TurnSecrets, turn_secrets
from app.sql.cancel import CancelToken
from app.tools.base import ToolContext

__all__ = ["CallOutcome", "run_tool"]

_KEPT_EVENTS = frozenset({protocol.Event.QUERY_RESULT.value, protocol.Event.TOOL_RESULT.value})
# The registry's own convention for a refusal or failure (app/tools/registry.py): "Error: <why>".
_ERROR_PREFIX = "Error: "


@dataclass(frozen=True)
class CallOutcome:
    text: str                 # what the model would read
    results: tuple[dict, ...]  # query_result / tool_result events, secrets scrubbed
    is_error: bool


def run_tool(services: McpServices, caller: Caller, name: str, arguments: dict, cancel: CancelToken) -> CallOutcome:
    """Blocking (database, HTTP): the server calls it in a worker thread."""
    secrets = _secrets(services, caller)
    events: list[dict] = []
    call_id = str(uuid.uuid4())
    user = caller.end_user
    context = ToolContext(conversation_id=call_id, turn_id=call_id, message_id=call_id,
                          chatbot_id=caller.chatbot.id, chatbot_config=caller.chatbot.config, user_id=user.user_id,
                          role=user.role, claims=user.claims, emit=events.append, cancel=cancel,
                          services=services.tool_services,
                          secrets=secrets.resolve if secrets else None,
                          scrub=secrets.scrubber.text if secrets else None,
                          # A chatbot's `deny` holds here too; `ask` is the MCP client's to confirm.
                          approval=denied_by_policy)
    with scrub.held(secrets.scrubber):
        text = services.registry.invoke(name, json.dumps(arguments), context, offered=set(caller.tool_names))
    results = tuple(secrets.scrubber.event(event) for event in events if event.get("type") in _KEPT_EVENTS)
    return CallOutcome(text, results, text.startswith(_ERROR_PREFIX))


def _secrets(services: McpServices, caller: Caller) -> TurnSecrets:
    """The secret settings this chatbot's prompt names, for this user, as a turn loads them (workers/plan.py)."""
    chatbot = caller.chatbot
    scopes = scopes_of(chatbot.system_prompt, list(chatbot.config.get("required_settings", [])))
    if not scopes:
        return NO_TURN_SECRETS
    with services.runtime.db.connection() as conn:
        view = load_settings(conn, scopes, caller.end_user.user_id)
    return turn_secrets(view, scopes, services.settings.encryption_key)
