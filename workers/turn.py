"""One attempt at one turn: lock, load, prompt, loop, persist, publish the ending.

Idempotent by construction: a per-turn lock keeps two deliveries from running at once, the
turn's status makes a finished turn a no-op, and only the attempt that closes the turn in the
database publishes its final event.
"""
from __future__ import annotations

import logging
import os
import socket

from app.chat import repository as conversations
from app.chat.templates import load_settings, render
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.chatbots.spec import effective_config
from app.providers.base import CompletionOptions, NoProviderConfigured, ProviderError
from app.sql.guard import AccessPolicy
from app.tools.registry import ToolContext
from workers.cancellation import CancelWatcher, TurnCancellation
from workers.loop import LoopConfig, ToolLoop, TurnCancelled, TurnOutcome
from workers.prompt import PromptParts, build_messages
from workers.services import WorkerServices
from workers.turn_lock import LEASE_SECONDS, TurnLock

log = logging.getLogger(__name__)

_OWNER = f"{socket.gethostname()}:{os.getpid()}"


def execute_turn(services: WorkerServices, turn_id: str) -> None:
    lock = TurnLock(services.runtime.redis, turn_id, _OWNER)
    if not lock.acquire(wait_seconds=LEASE_SECONDS + 1):
        log.info("turn %s is being run by another worker", turn_id)
        return
    try:
        _run_attempt(services, turn_id)
    finally:
        lock.release()


class _Emitter:
    def __init__(self, services: WorkerServices, conversation_id: str, message_id: str):
        self._bus = services.bus
        self._conversation_id = conversation_id
        self._message_id = message_id
        self._first = True

    def __call__(self, event: dict) -> None:
        first, self._first = self._first, False
        self._bus.publish(self._conversation_id, {**event, "message_id": self._message_id}, turn_start=first)


def _run_attempt(services: WorkerServices, turn_id: str) -> None:
    settings = services.settings
    with services.runtime.db.connection() as conn:
        started = conversations.begin_attempt(conn, turn_id)
        if started is None:
            return  # finished by an earlier delivery
        conn.commit()
        turn, conversation, user_content = started.turn, started.conversation, started.user_content
        chatbot = chatbots.get_record(conn, conversation.chatbot_id)
        history = conversations.history(conn, conversation.id, before_turn=turn.id)
        config = effective_config(chatbot.config, server_policy(settings))
        template_settings = load_settings(conn, list(config.get("required_settings", [])), conversation.user_id)
        policy = AccessPolicy.from_config(config["allowed_tables"], config["allowed_schemas"],
                                          config["allowed_operations"] or ["SELECT"])
        tool_names = tuple(tool["name"] for tool in chatbot.tools)
        schema = (services.schema_cache.describe(conn, (chatbot.id, chatbot.version), policy)
                  if "execute_sql" in tool_names else None)
    emit = _Emitter(services, conversation.id, turn.assistant_message_id)
    if turn.attempts > 1:
        emit({"type": "progress", "step": "thinking", "message": "Restarting the answer after a worker failure"})
    # Model-written SQL runs as `authenticated` for a signed-in user (admins included) and as `anon`
    # for everyone else, service-key callers too: never with more rights than an end user.
    role = "authenticated" if conversation.user_role in ("authenticated", "admin") and conversation.user_id else "anon"
    claims = {"role": role, **({"sub": conversation.user_id} if conversation.user_id else {})}
    cancellation = TurnCancellation()
    context = ToolContext(conversation_id=conversation.id, turn_id=turn.id, message_id=turn.assistant_message_id,
                          chatbot_id=chatbot.id, chatbot_config=config, user_id=conversation.user_id, role=role,
                          claims=claims, emit=emit, cancel=cancellation.token)
    prompt = PromptParts(
        system_prompt=render(chatbot.system_prompt, user_id=conversation.user_id, namespace=chatbot.namespace,
                             settings=template_settings),
        schema_description=schema, response_language=config["response_language"], tool_names=tool_names)
    with CancelWatcher(services.runtime.redis, turn.id, cancellation):
        try:
            provider = services.provider_for(config.get("provider"))
            loop = ToolLoop(provider, services.registry, emit=emit, cancellation=cancellation,
                            config=LoopConfig(settings.max_tool_rounds, CompletionOptions(
                                model=config.get("model"), max_tokens=config["max_tokens"],
                                temperature=config["temperature"])))
            outcome = loop.run(build_messages(prompt, history, user_content), list(chatbot.tools), context)
        except TurnCancelled as cancelled:
            _finish(services, turn, cancelled.outcome, "cancelled", None, emit, {"type": "cancelled"})
        except (ProviderError, NoProviderConfigured) as exc:
            _finish(services, turn, None, "error", exc.code, emit, _error_event(exc))
        except Exception:
            log.exception("turn %s failed", turn.id)
            _finish(services, turn, None, "error", "INTERNAL_ERROR", emit,
                    {"type": "error", "code": "INTERNAL_ERROR", "error": "Internal error"})
        else:
            _finish(services, turn, outcome, "done", None, emit, {"type": "done", "usage": outcome.usage.as_dict()})


def _error_event(exc: Exception) -> dict:
    if isinstance(exc, NoProviderConfigured):
        return {"type": "error", "code": "NO_PROVIDER", "error": "No AI provider configured"}
    if exc.code == "PROVIDER_AUTH_FAILED":
        return {"type": "error", "code": exc.code, "error": "Provider authentication failed"}
    event = {"type": "error", "code": exc.code, "error": f"AI provider not available: {exc.detail}"}
    if exc.retry_after is not None:
        event["retry_after"] = exc.retry_after
    return event


def _finish(services: WorkerServices, turn: conversations.Turn, outcome: TurnOutcome | None, status: str,
            error_code: str | None, emit: _Emitter, final_event: dict) -> None:
    """Persist what the turn produced and close it; publish the ending only if this attempt closed it."""
    usage = outcome.usage if outcome else None
    with services.runtime.db.connection() as conn:
        with conn.transaction():
            closed = conversations.finish_turn(conn, turn, status=status, error_code=error_code,
                                               prompt_tokens=usage.prompt_tokens if usage else 0,
                                               completion_tokens=usage.completion_tokens if usage else 0)
            if not closed:
                return
            if outcome is not None:
                for message in outcome.transcript:
                    conversations.add_message(conn, conversation_id=turn.conversation_id, turn_id=turn.id, **message)
                conversations.add_message(
                    conn, conversation_id=turn.conversation_id, turn_id=turn.id, role="assistant",
                    content=outcome.text, message_id=turn.assistant_message_id,
                    status="complete" if status == "done" else "cancelled",
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
            conversations.touch(conn, turn.conversation_id)
    emit(final_event)
