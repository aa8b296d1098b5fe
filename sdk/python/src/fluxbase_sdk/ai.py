"""`client.ai`: chatbots a user may see, their own conversations, and `create_chat`.

REST results are the server's JSON as dicts and lists (PROTOCOL.md section 5 and docs/conversations.md
give their shapes), unwrapped where Fluxbase's SDK unwraps them (`list_chatbots()` is the list);
every refusal raises a FluxbaseError subclass.
"""
from __future__ import annotations

from typing import Any

from fluxbase_sdk import errors
from fluxbase_sdk.chat import Chat
from fluxbase_sdk.connection import ws_url
from fluxbase_sdk.http import HttpClient, segment

CHATBOTS = "/api/v1/ai/chatbots"
CONVERSATIONS = "/api/v1/ai/conversations"


class AI:
    def __init__(self, http: HttpClient):
        self._http = http

    # -- chatbots -----------------------------------------------------------------------------------

    def list_chatbots(self) -> list[dict[str, Any]]:
        """Every public, enabled chatbot: `[{id, name, namespace, description, ...}]`."""
        return (self._http.get(CHATBOTS) or {}).get("chatbots", [])

    def get_chatbot(self, chatbot_id: str) -> dict[str, Any]:
        return self._http.get(f"{CHATBOTS}/{segment(chatbot_id)}")

    def lookup_chatbot(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The chatbot called `name`: the only one, else the one in `default`. A name in several other
        namespaces raises ConflictError with `details["namespaces"]`."""
        answer = self._http.get(f"{CHATBOTS}/by-name/{segment(name)}", {"namespace": namespace})
        return (answer or {}).get("chatbot") or {}

    # -- conversations (the signed-in user's own; the client needs a user token: set_auth_token) -----

    def list_conversations(self, *, chatbot: str | None = None, namespace: str | None = None,
                           limit: int | None = None, offset: int | None = None) -> dict[str, Any]:
        """`{conversations: [...], total, has_more, limit, offset}`."""
        return self._http.get(CONVERSATIONS, {"chatbot": chatbot, "namespace": namespace, "limit": limit,
                                              "offset": offset})

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """The conversation with its messages."""
        return self._http.get(f"{CONVERSATIONS}/{segment(conversation_id)}")

    def get_messages(self, conversation_id: str, *, limit: int | None = None,
                     offset: int | None = None) -> dict[str, Any]:
        return self._http.get(f"{CONVERSATIONS}/{segment(conversation_id)}/messages",
                              {"limit": limit, "offset": offset})

    def rename_conversation(self, conversation_id: str, title: str) -> dict[str, Any]:
        return self._http.patch(f"{CONVERSATIONS}/{segment(conversation_id)}", {"title": title})

    def delete_conversation(self, conversation_id: str) -> None:
        self._http.delete(f"{CONVERSATIONS}/{segment(conversation_id)}")

    # -- chat ---------------------------------------------------------------------------------------

    def create_chat(self, *, token: str | None = None, url: str | None = None, **options: Any) -> Chat:
        """A chat over the server's WebSocket. `token` is the user's JWT (None: anonymous); `url`
        overrides `ws(s)://<server>/ai/ws`. Options: the callbacks (`on_content`, `on_progress`,
        `on_query_result`, `on_tool_result`, `on_done`, `on_cancelled`, `on_error`, `on_event`,
        `on_connection`) and `reconnect_attempts`, `reconnect_delay`, `max_reconnect_delay`,
        `connect_timeout`, `request_timeout`, `ping_timeout`."""
        return Chat(url or ws_url(self._http.base_url), token=token, lookup=self._namespace_of, **options)

    def _namespace_of(self, name: str) -> str | None:
        """The namespace start_chat sends for a bare name; None lets the server decide (a chatbot
        hidden from the public list can still be opened by name)."""
        try:
            return self.lookup_chatbot(name).get("namespace")
        except errors.ConflictError:
            raise
        except errors.FluxbaseError:
            return None
