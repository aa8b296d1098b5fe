"""`client.admin.ai`: chatbots, providers, usage, the SQL audit and every user's conversations.

Needs a client created with the service key (or a user token with an admin role). Results are the
server's JSON (dicts and lists); refusals raise FluxbaseError subclasses.
"""
from __future__ import annotations

from typing import Any

from fluxbase_sdk.http import HttpClient, segment

ROOT = "/api/v1/admin/ai"


class AdminAI:
    def __init__(self, http: HttpClient):
        self._http = http

    # -- chatbots -----------------------------------------------------------------------------------

    def list_chatbots(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return (self._http.get(f"{ROOT}/chatbots", {"namespace": namespace}) or {}).get("chatbots", [])

    def get_chatbot(self, chatbot_id: str) -> dict[str, Any]:
        return self._http.get(f"{ROOT}/chatbots/{segment(chatbot_id)}")

    def update_chatbot(self, chatbot_id: str, *, enabled: bool | None = None, config: dict[str, Any] | None = None,
                       reset_config: bool | None = None) -> dict[str, Any]:
        body = {k: v for k, v in {"enabled": enabled, "config": config, "reset_config": reset_config}.items()
                if v is not None}
        return self._http.put(f"{ROOT}/chatbots/{segment(chatbot_id)}", body)

    def toggle_chatbot(self, chatbot_id: str, enabled: bool) -> dict[str, Any]:
        return self._http.put(f"{ROOT}/chatbots/{segment(chatbot_id)}/toggle", {"enabled": bool(enabled)})

    def delete_chatbot(self, chatbot_id: str) -> None:
        self._http.delete(f"{ROOT}/chatbots/{segment(chatbot_id)}")

    def sync(self, *, namespace: str = "default", chatbots: list[dict[str, str]] | None = None,
             delete_missing: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Without `chatbots`, syncs the server's chatbots directory; with `[{name, code}]`, those
        files into `namespace`. `{namespace, summary: {created, updated, deleted, unchanged, errors}, ...}`."""
        body: dict[str, Any] = {"namespace": namespace,
                                "options": {"delete_missing": delete_missing, "dry_run": dry_run}}
        if chatbots is not None:
            body["chatbots"] = chatbots
        return self._http.post(f"{ROOT}/chatbots/sync", body)

    # -- providers ----------------------------------------------------------------------------------

    def list_providers(self) -> list[dict[str, Any]]:
        return (self._http.get(f"{ROOT}/providers") or {}).get("providers", [])

    def get_provider(self, provider_id: str) -> dict[str, Any]:
        return self._http.get(f"{ROOT}/providers/{segment(provider_id)}")

    def create_provider(self, *, name: str, provider_type: str, config: dict[str, Any],
                        display_name: str | None = None, is_default: bool | None = None,
                        enabled: bool | None = None, embedding_model: str | None = None) -> dict[str, Any]:
        """`provider_type` is "openai", "azure" or "ollama"; `config.api_key` is stored encrypted and
        never returned (shown as "***")."""
        body = {"name": name, "provider_type": provider_type, "config": config, "display_name": display_name,
                "is_default": is_default, "enabled": enabled, "embedding_model": embedding_model}
        return self._http.post(f"{ROOT}/providers", {k: v for k, v in body.items() if v is not None})

    def update_provider(self, provider_id: str, **changes: Any) -> dict[str, Any]:
        """`display_name`, `enabled`, `config`, `embedding_model`; an api_key of "***" keeps the stored key."""
        return self._http.put(f"{ROOT}/providers/{segment(provider_id)}", changes)

    def set_default_provider(self, provider_id: str) -> dict[str, Any]:
        return self._http.put(f"{ROOT}/providers/{segment(provider_id)}/default", {})

    def delete_provider(self, provider_id: str) -> None:
        self._http.delete(f"{ROOT}/providers/{segment(provider_id)}")

    def test_provider(self, provider_id: str) -> dict[str, Any]:
        return self._http.post(f"{ROOT}/providers/{segment(provider_id)}/test", {})

    # -- usage, audit, conversations ----------------------------------------------------------------

    def usage(self, **filters: Any) -> dict[str, Any]:
        """`chatbot`, `namespace`, `chatbot_id`, `user_id`, `since`, `until`, `limit`, `offset`."""
        return self._http.get(f"{ROOT}/usage", filters)

    def audit(self, **filters: Any) -> dict[str, Any]:
        """The SQL audit, newest first: `chatbot_id`, `conversation_id`, `user_id`, `verdict`, `success`,
        `since`, `until`, `limit`, `offset`. Each entry has `sql` as it ran and `sql_pretty` for reading."""
        return self._http.get(f"{ROOT}/audit", filters)

    def list_conversations(self, **filters: Any) -> dict[str, Any]:
        """Every user's conversations: `chatbot_id`, `user_id`, `limit`, `offset`."""
        return self._http.get(f"{ROOT}/conversations", filters)

    def get_messages(self, conversation_id: str, **page: Any) -> dict[str, Any]:
        return self._http.get(f"{ROOT}/conversations/{segment(conversation_id)}/messages", page)

    def set_conversation_provider(self, conversation_id: str, provider: str | None) -> dict[str, Any]:
        """Pin the conversation to a provider (its name or id) for its next turns; None removes the pin."""
        return self._http.patch(f"{ROOT}/conversations/{segment(conversation_id)}", {"provider": provider})
