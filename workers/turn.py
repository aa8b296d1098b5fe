"""One attempt at one turn: lock, load, prompt, loop, persist, publish the ending.

Idempotent by construction: a per-turn lock keeps two deliveries from running at once, the
turn's status makes a finished turn a no-op, and only the attempt that closes the turn in the
database publishes its final event. Whatever happens inside an attempt, the turn is closed and
exactly one ending is published, with what the attempt produced so far kept.
"""
from __future__ import annotations

import logging
import os
import socket
import time

from app.chat import repository as conversations
from app.chat.templates import load_settings, render
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.providers.base import CompletionOptions, NoProviderConfigured, ProviderError
from app.sql.audit import turn_wrote_data
from app.tools.registry import ToolContext
from app.tools.sql_tool import chatbot_access_policy
from workers.cancellation import CancelWatcher, TurnCancellation
from workers.loop import LoopConfig, ToolLoop, TurnCancelled, TurnOutcome, TurnTimedOut
from workers.prompt import PromptParts, build_messages
from workers.services import WorkerServices
from workers.turn_lock import LEASE_SECONDS, TurnLock

log = logging.getLogger(__name__)

_OWNER = f"{socket.gethostname()}:{os.getpid()}"
ENDINGS = ("done", "cancelled", "error")


class _Refused(Exception):
    """The attempt must not run; `code`/`message` become its error event."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def execute_turn(services: WorkerServices, turn_id: str) -> None:
    lock = TurnLock(services.runtime.redis, turn_id, _OWNER)
    if not lock.acquire(wait_seconds=LEASE_SECONDS + 1):
        log.info("turn %s is being run by another worker", turn_id)
        return
    try:
        with services.runtime.db.connection() as conn:
            started = conversations.begin_attempt(conn, turn_id)
            conn.commit()
            if started is None:
                _republish_lost_ending(services, conn, turn_id)
                return
        _run_attempt(services, started)
    finally:
        lock.release()


class _Emitter:
    def __init__(self, services: WorkerServices, conversation: conversations.Conversation, message_id: str):
        self._bus = services.bus
        self._conversation = conversation
        self._message_id = message_id
        self._first = True
        self.last_seq = conversation.last_seq

    def __call__(self, event: dict) -> None:
        first, self._first = self._first, False
        seq = self._bus.publish(self._conversation.id, {**event, "message_id": self._message_id}, turn_start=first,
                                floor=self._conversation.last_seq)
        self.last_seq = max(self.last_seq, seq)


def _run_attempt(services: WorkerServices, started: conversations.TurnContext) -> None:
    settings = services.settings
    turn, conversation = started.turn, started.conversation
    emit = _Emitter(services, conversation, turn.assistant_message_id)
    outcome = TurnOutcome()
    cancellation = TurnCancellation()
    try:
        if turn.attempts > 1:
            emit({"type": "progress", "step": "thinking", "message": "Restarting the answer after a worker failure"})
        with services.runtime.db.connection() as conn:
            if turn.attempts > 1 and turn_wrote_data(conn, turn.id):
                raise _Refused("INTERNAL_ERROR", "The answer was interrupted after it changed data; it is not "
                                                 "repeated. Check the data and ask again.")
            chatbot = chatbots.get_record(conn, conversation.chatbot_id, policy=server_policy(settings))
            if chatbot is None or not chatbot.enabled:
                raise _Refused("CHATBOT_NOT_FOUND", "Chatbot not found or disabled")
            config = chatbot.config
            history = conversations.history(conn, conversation.id, before_turn=turn.id)
            template_settings = load_settings(conn, list(config.get("required_settings", [])), conversation.user_id)
            # Model-written SQL runs as `authenticated` for a signed-in user (admins included) and as
            # `anon` for everyone else, service-key callers too: never with more than an end user's rights.
            role = ("authenticated" if conversation.user_role in ("authenticated", "admin") and conversation.user_id
                    else "anon")
            tool_names = tuple(tool["name"] for tool in chatbot.tools)
            policy = chatbot_access_policy(config)
            schema = (services.schema_cache.describe(conn, (chatbot.id, chatbot.version, role), policy, role)
                      if policy is not None and "execute_sql" in tool_names else None)
        claims = {"role": role, **({"sub": conversation.user_id} if conversation.user_id else {})}
        context = ToolContext(conversation_id=conversation.id, turn_id=turn.id, message_id=turn.assistant_message_id,
                              chatbot_id=chatbot.id, chatbot_config=config, user_id=conversation.user_id, role=role,
                              claims=claims, emit=emit, cancel=cancellation.token)
        prompt = PromptParts(
            system_prompt=render(chatbot.system_prompt, user_id=conversation.user_id, namespace=chatbot.namespace,
                                 settings=template_settings),
            schema_description=schema, response_language=config["response_language"], tool_names=tool_names)
        provider = services.provider_for(config.get("provider"))
        loop = ToolLoop(provider, services.registry, emit=emit, cancellation=cancellation, config=LoopConfig(
            settings.max_tool_rounds, CompletionOptions(model=config.get("model"), max_tokens=config["max_tokens"],
                                                        temperature=config["temperature"]),
            deadline=time.monotonic() + settings.turn_timeout_seconds))
        with CancelWatcher(services.runtime.redis, turn.id, cancellation):
            loop.run(build_messages(prompt, history, started.user_content), list(chatbot.tools), context, outcome)
    except TurnCancelled:
        _finish(services, turn, outcome, "cancelled", None, emit, {"type": "cancelled"})
    except TurnTimedOut:
        _finish(services, turn, outcome, "error", "INTERNAL_ERROR", emit,
                {"type": "error", "code": "INTERNAL_ERROR", "error": "The answer took too long and was stopped"})
    except (ProviderError, NoProviderConfigured) as exc:
        _finish(services, turn, outcome, "error", exc.code, emit, _error_event(exc))
    except _Refused as exc:
        _finish(services, turn, outcome, "error", exc.code, emit, {"type": "error", "code": exc.code,
                                                                    "error": exc.message})
    except BaseException as exc:
        # Also gevent.Timeout from Celery's hard time limit: close the turn, then let it propagate.
        log.exception("turn %s failed", turn.id)
        _finish(services, turn, outcome, "error", "INTERNAL_ERROR", emit,
                {"type": "error", "code": "INTERNAL_ERROR", "error": "Internal error"})
        if not isinstance(exc, Exception):
            raise
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


def _finish(services: WorkerServices, turn: conversations.Turn, outcome: TurnOutcome, status: str,
            error_code: str | None, emit: _Emitter, final_event: dict) -> None:
    """Persist what the turn produced (tool calls and results, and the text so far) and close it;
    publish the ending only if this attempt closed it."""
    usage = outcome.usage
    with services.runtime.db.connection() as conn:
        with conn.transaction():
            closed = conversations.finish_turn(conn, turn, status=status, error_code=error_code,
                                               prompt_tokens=usage.prompt_tokens,
                                               completion_tokens=usage.completion_tokens)
            if not closed:
                return
            for message in outcome.transcript:
                conversations.add_message(conn, conversation_id=turn.conversation_id, turn_id=turn.id, **message)
            if status == "done" or outcome.text:
                conversations.add_message(
                    conn, conversation_id=turn.conversation_id, turn_id=turn.id, role="assistant",
                    content=outcome.text, message_id=turn.assistant_message_id,
                    status={"done": "complete"}.get(status, status),
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
            conversations.touch(conn, turn.conversation_id)
        emit(final_event)
        conversations.record_last_seq(conn, turn.conversation_id, emit.last_seq)
        conn.commit()


def _republish_lost_ending(services: WorkerServices, conn, turn_id: str) -> None:
    """A redelivered finished turn: if its ending never reached the bus (the worker died between
    the commit and the publish), publish it now so clients are not left waiting."""
    turn = conversations.finished_turn(conn, turn_id)
    if turn is None:
        return
    conversation_id, message_id = str(turn["conversation_id"]), str(turn["assistant_message_id"])
    kept = [e for e in services.bus.replay(conversation_id, None) if e.get("message_id") == message_id]
    if any(e["type"] in ENDINGS for e in kept):
        return
    if turn["status"] == "done":
        usage = {"prompt_tokens": turn["prompt_tokens"], "completion_tokens": turn["completion_tokens"],
                 "total_tokens": turn["prompt_tokens"] + turn["completion_tokens"]}
        event = {"type": "done", "usage": usage}
    elif turn["status"] == "cancelled":
        event = {"type": "cancelled"}
    else:
        event = {"type": "error", "code": turn["error_code"] or "INTERNAL_ERROR", "error": "The turn failed"}
    # Continue the turn's events when they are still kept; otherwise the ending starts the replay.
    services.bus.publish(conversation_id, {**event, "message_id": message_id}, turn_start=not kept)
