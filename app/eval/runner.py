"""Running one case through the real turn path: a WebSocket client (the Python SDK, as `fluxbase chat`
uses it) against the running server, signed in as the case's user, one new conversation per case.

With a provider to use (`fluxbase eval --provider NAME`), each case's conversation is pinned to it
through the admin API right after it is opened, before its first message, so every turn of the
case is answered there whatever the chatbot names (app/providers/pinning.py).

What a case's run keeps: the last turn's answer text, its query results (rows as the client got
them), the tools the model called in that turn (from the conversation's stored messages, read with
the admin API), the tokens of every turn, and the time from sending each message to its ending.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fluxbase_sdk import ConnectionError as SdkConnectionError
from fluxbase_sdk import FluxbaseError, create_client

from app.eval.cases import EvalCase

__all__ = ["CaseRun", "CaseRunner", "PinFailed", "TurnFailed"]


class TurnFailed(Exception):
    """The conversation could not be started or a message could not be sent (not an answer's ending)."""


class PinFailed(Exception):
    """The admin API refused to pin a case's conversation to the provider: no case can run as asked."""


@dataclass
class CaseRun:
    conversation_id: str | None = None
    text: str = ""                                  # the last turn's answer
    queries: list[dict[str, Any]] = field(default_factory=list)   # its query_result events, as sent
    tools_called: list[str] = field(default_factory=list)         # its tool calls, in order
    approvals: list[str] = field(default_factory=list)            # tools that waited for an approval
    ending: str | None = None                       # done, cancelled or error (of the last turn reached)
    error_code: str | None = None
    error_text: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0                         # every turn of the case, from send to ending
    turn_latencies_ms: list[float] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def last_successful_query(self) -> dict[str, Any] | None:
        for event in reversed(self.queries):
            if not event.get("error"):
                return event
        return None


class CaseRunner:
    """One per chatbot; `token_for(user_id)` signs a case's user in."""

    def __init__(self, url: str, *, chatbot: str, namespace: str, token_for: Callable[[str], str],
                 service_key: str | None, event_timeout: float, keep_conversations: bool = False,
                 provider: str | None = None):
        self.url, self.chatbot, self.namespace = url, chatbot, namespace
        self._token_for = token_for
        self._service_key = service_key
        self._provider = provider
        self._event_timeout = event_timeout
        self._keep = keep_conversations

    def run(self, case: EvalCase) -> CaseRun:
        token = self._token_for(case.user_id)
        client = create_client(self.url, token)
        chat = client.ai.create_chat(token=token)
        run = CaseRun()
        try:
            chat.connect()
            run.conversation_id = chat.start_chat(self.chatbot, self.namespace)
            if self._provider is not None:
                self._pin(client, run.conversation_id)
            for message in case.turns:
                if not self._turn(chat, run, message):
                    break
        except SdkConnectionError:
            raise   # the server is not there: the caller stops the whole evaluation
        except FluxbaseError as exc:
            raise TurnFailed(str(exc)) from None
        finally:
            chat.disconnect()
        if run.conversation_id is not None:
            run.tools_called = self._tools_of_last_turn(run.conversation_id)
            if not self._keep:
                self._forget(client, run.conversation_id)
        return run

    def _turn(self, chat, run: CaseRun, message: str) -> bool:
        """One message and its answer; False when it did not end with `done` (the case stops there)."""
        run.text, run.queries = "", []
        started = time.perf_counter()
        turn = chat.ask(run.conversation_id, message, timeout=self._event_timeout)
        try:
            for event in turn:
                raw = dict(event.raw)
                if event.type == "query_result":
                    run.queries.append(raw)
                elif event.type == "approval_required":
                    # Never answered: an evaluation does not approve writes (docs/eval.md).
                    run.approvals.append(str(raw.get("tool")))
                elif event.type in ("done", "cancelled", "error"):
                    run.ending = event.type
                    usage = raw.get("usage") or {}
                    run.prompt_tokens += int(usage.get("prompt_tokens") or 0)
                    run.completion_tokens += int(usage.get("completion_tokens") or 0)
                    if event.type == "error":
                        run.error_code, run.error_text = raw.get("code"), raw.get("error")
        finally:
            turn.close()
        elapsed = (time.perf_counter() - started) * 1000
        run.turn_latencies_ms.append(elapsed)
        run.latency_ms += elapsed
        run.text = turn.text
        return run.ending == "done"

    def _pin(self, client, conversation_id: str) -> None:
        try:
            create_client(self.url, self._service_key).admin.ai.set_conversation_provider(conversation_id,
                                                                                          self._provider)
        except SdkConnectionError:
            raise
        except FluxbaseError as exc:
            self._forget(client, conversation_id)
            raise PinFailed(f"could not pin the conversation to provider {self._provider!r}: {exc}") from None

    def _tools_of_last_turn(self, conversation_id: str) -> list[str]:
        """The tool calls are in the stored messages; only the admin API shows them (users see text)."""
        if not self._service_key:
            return []
        admin = create_client(self.url, self._service_key)
        messages = admin.admin.ai.get_messages(conversation_id).get("messages", [])
        last_turn = next((m.get("turn_id") for m in reversed(messages) if m.get("role") == "user"), None)
        names = []
        for message in messages:
            if message.get("turn_id") != last_turn or message.get("role") != "assistant":
                continue
            for call in message.get("tool_calls") or []:
                name = call.get("name") or (call.get("function") or {}).get("name")
                if isinstance(name, str):
                    names.append(name)
        return names

    def _forget(self, client, conversation_id: str) -> None:
        # An evaluation's conversations are not the user's: they are deleted unless asked to keep them.
        try:
            client.ai.delete_conversation(conversation_id)
        except FluxbaseError:
            pass
