"""One attempt at one turn, orchestrated: lock, plan, loop, close, publish the ending.

Idempotent by construction: a per-turn lock keeps two deliveries from running at once, the
turn's status makes a finished turn a no-op, and only the attempt that closes the turn in the
database publishes its ending. Whatever happens inside an attempt, the turn is closed with what
the attempt produced so far, and exactly one ending is published (now, or by housekeeping when
Redis is away).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import psycopg

from app import log_context, protocol
from app.chat import records, turns
from app.chat.records import Closing, NewMessage
from app.chatbots.repository import ChatbotRecord
from app.protocol import Code, ProtocolError, Step
from app.secrets import scrub
from app.settings_store.turn_secrets import NO_TURN_SECRETS, TurnSecrets
from app.tools.base import ToolContext
from app.unavailable import is_unavailable
from workers.approval_gate import ApprovalGate
from workers.cancellation import TurnCancellation
from workers.emitter import ResultBudget, TurnEmitter, starting_floor
from workers.endings import Ending, ending_for, publish_recovered, success, unstorable
from workers.loop import LoopConfig, ToolLoop, TurnOutcome, TurnTimedOut
from workers.plan import TurnPlan, build_plan, with_knowledge
from workers.schema_step import with_schema
from workers.services import WorkerServices
from workers.token_allowance import TurnAllowance
from workers.turn_lock import LEASE_SECONDS, TurnLock

log = logging.getLogger(__name__)

_OWNER = f"{socket.gethostname()}:{os.getpid()}"
# How long a finished attempt waits for PostgreSQL to come back to store its answer; past it the
# turn is left to housekeeping, which runs it again once its lease has lapsed.
CLOSE_RETRY_SECONDS = 120
T = TypeVar("T")


def execute_turn(services: WorkerServices, turn_id: str) -> None:
    # Every line logged for this turn, here and in what it calls, carries its ids (app/log_context.py).
    with log_context.scope(turn_id=turn_id):
        _execute_turn(services, turn_id)


def _execute_turn(services: WorkerServices, turn_id: str) -> None:
    lock = TurnLock(services.runtime.redis, turn_id, _OWNER, services.leases)
    if not lock.acquire(wait_seconds=LEASE_SECONDS + 1):
        log.info("turn %s is being run by another worker", turn_id)
        return
    try:
        with services.runtime.db.connection() as conn:
            started = turns.begin_attempt(conn, turn_id, lease_seconds=LEASE_SECONDS)
            conn.commit()
            if started is None:
                # A redelivered finished turn: its ending may never have reached clients.
                lost = turns.claim_unpublished_ending(conn, turn_id)
                conn.commit()
        if started is None:
            if lost is not None:
                _publish_lost(services, lost)
            return
        run_attempt(services, started)
    finally:
        lock.release()


def run_attempt(services: WorkerServices, started: records.TurnContext) -> None:
    turn, conversation = started.turn, started.conversation
    log_context.add(conversation_id=conversation.id)
    began = time.monotonic()
    floor = starting_floor(services.bus, conversation.id, conversation.last_seq, started.published_seq,
                           turn.attempts)
    emit = TurnEmitter(services.bus, conversation.id, turn.assistant_message_id, floor=floor,
                       result_budget=ResultBudget(services.settings.turn_result_bytes),
                       on_published=lambda seq: services.leases.note_seq(turn.id, seq))
    outcome = TurnOutcome()
    cancellation = TurnCancellation()
    secrets = NO_TURN_SECRETS
    chatbot = None
    try:
        if turn.attempts > 1:
            emit(protocol.progress(Step.THINKING, "Restarting the answer after a worker failure"))
        with services.runtime.db.connection() as conn:
            plan = build_plan(conn, services, started)
        chatbot = plan.chatbot
        log_context.add(chatbot=f"{chatbot.namespace}/{chatbot.name}")
        plan = with_knowledge(services, plan, emit)
        plan = with_schema(services, plan)   # a large schema: only the relevant tables described
        # The turn's known secret values go out of its events, its stored messages and the process's logs.
        secrets = plan.secrets
        emit.scrub_with(secrets.scrubber)
        with scrub.held(secrets.scrubber):
            loop = ToolLoop(plan.provider, services.registry, emit=emit, cancellation=cancellation,
                            config=LoopConfig(plan.limits.max_tool_rounds, plan.options,
                                              deadline=plan.limits.deadline, allowance=_allowance(services, plan)),
                            metrics=services.metrics)
            gate = _approval_gate(services, emit, cancellation, loop)
            if turn.attempts > 1:
                gate.expire_earlier_attempts(turn.id)
            with services.cancel_hub.watch(turn.id, cancellation):
                loop.run(plan.messages, list(plan.tool_definitions),
                         _tool_context(services, plan, emit, cancellation, gate), outcome)
    except BaseException as exc:
        if isinstance(exc, ProtocolError):
            services.metrics.refused(exc)  # a limit met mid-turn (the token budget)
        with scrub.held(secrets.scrubber):
            closed = _close(services, turn, outcome, ending_for(exc, turn.id), emit, secrets)
            _finished(services, chatbot, outcome, closed, isinstance(exc, TurnTimedOut), time.monotonic() - began)
        if not isinstance(exc, Exception):
            raise
    else:
        with scrub.held(secrets.scrubber):
            closed = _close(services, turn, outcome, success(outcome), emit, secrets)
            _finished(services, chatbot, outcome, closed, False, time.monotonic() - began)


def _finished(services: WorkerServices, chatbot: ChatbotRecord | None, outcome: TurnOutcome, closed: Ending | None,
              timed_out: bool, seconds: float) -> None:
    """Count what the attempt spent (whether or not it closed the turn) and, if it did, how it ended."""
    usage = outcome.usage.bounded()
    if chatbot is not None:
        services.metrics.tokens(chatbot.namespace, chatbot.name, usage.prompt_tokens, usage.completion_tokens)
    if closed is None:
        return
    label = "timeout" if timed_out else closed.status
    code = closed.code.value if closed.code else None
    services.metrics.turn_finished(label, code, seconds)
    log.info("turn finished: %s%s in %.2f s, %d round(s), %d+%d tokens", label, f" ({code})" if code else "",
             seconds, outcome.rounds, usage.prompt_tokens, usage.completion_tokens)


def _allowance(services: WorkerServices, plan: TurnPlan) -> TurnAllowance:
    return TurnAllowance(services.token_budget, chatbot_id=plan.chatbot.id, identity=plan.limits.quota_key,
                         daily_tokens=plan.limits.daily_tokens, model=plan.options.model or plan.provider.model,
                         conversation_id=plan.started.turn.conversation_id, turn_id=plan.started.turn.id)


def _approval_gate(services: WorkerServices, emit: TurnEmitter, cancellation: TurnCancellation,
                   loop: ToolLoop) -> ApprovalGate:
    settings = services.settings
    return ApprovalGate(db=services.runtime.db, redis_client=services.runtime.redis,
                        force_ask_writes=settings.approval_writes == "ask",
                        timeout_seconds=settings.approval_timeout_seconds, emit=emit, cancellation=cancellation,
                        on_waited=loop.extend_deadline,
                        required=lambda tool: services.registry.definition(tool)["parameters"].get("required", ()))


def _tool_context(services: WorkerServices, plan: TurnPlan, emit: TurnEmitter,
                  cancellation: TurnCancellation, approval: ApprovalGate | None = None) -> ToolContext:
    turn = plan.started.turn
    return ToolContext(conversation_id=turn.conversation_id, turn_id=turn.id, message_id=turn.assistant_message_id,
                       chatbot_id=plan.chatbot.id, chatbot_config=plan.chatbot.config, user_id=plan.end_user.user_id,
                       role=plan.end_user.role, claims=plan.end_user.claims, emit=emit, cancel=cancellation.token,
                       services=services.tool_services,
                       # Only the secrets this chatbot may use (app/settings_store/turn_secrets.py).
                       secrets=plan.secrets.resolve if plan.secrets else None,
                       scrub=plan.secrets.scrubber.text if plan.secrets else None, approval=approval)


def _stored_messages(turn: records.Turn, outcome: TurnOutcome, status: str,
                     secrets: TurnSecrets = NO_TURN_SECRETS) -> list[NewMessage]:
    # Tool results were scrubbed as they came back; the model's own words and arguments are too, in
    # case it reproduced a value some other way. A turn without secrets stores what it has as it is.
    clean = secrets.scrubber.value if secrets else (lambda value: value)
    messages = [NewMessage(**clean(entry)) for entry in outcome.transcript]
    if status == "done" or outcome.text:
        messages.append(NewMessage(role="assistant", content=clean(outcome.text), message_id=turn.assistant_message_id,
                                   status={"done": "complete"}.get(status, status),
                                   prompt_tokens=outcome.usage.bounded().prompt_tokens,
                                   completion_tokens=outcome.usage.bounded().completion_tokens,
                                   usage_estimated=outcome.usage.estimated))
    return messages


def _close(services: WorkerServices, turn: records.Turn, outcome: TurnOutcome, ending: Ending,
           emit: TurnEmitter, secrets: TurnSecrets = NO_TURN_SECRETS) -> Ending | None:
    """Persist what the turn produced (tool calls and results, and the text so far) and close it;
    publish the ending only if this attempt closed it, and return it (None: another attempt did).
    A PostgreSQL outage is waited out: the answer exists only in this process until it is stored."""
    try:
        closing = _while_database_away(lambda: _store(services, turn, outcome, ending, secrets), turn.id)
    except psycopg.Error:
        # PostgreSQL refused what the turn produced: close it without that, once, rather than leave it
        # running for housekeeping to run again (and fail the same way) until its attempts run out.
        log.exception("turn %s: its answer could not be stored; closing it without it", turn.id)
        ending = unstorable()
        closing = _while_database_away(lambda: _store(services, turn, TurnOutcome(), ending), turn.id)
    if closing is Closing.GONE:
        # Deleted with its conversation (an admin deleted the chatbot): clients still following it
        # get an ending instead of waiting; there is nothing left to record it in.
        gone = Ending("error", Code.CONVERSATION_NOT_FOUND,
                      protocol.error(Code.CONVERSATION_NOT_FOUND, "The conversation was deleted during the answer"))
        emit.finish(gone.event)
        return gone
    if closing is not Closing.CLOSED:
        return None
    event = ending.event
    if emit.lost_events:
        # Some of this answer never reached Redis: the ending carries all of it, so every client,
        # whichever socket it is on when the ending arrives, can show the whole answer.
        event = {**event, "content": outcome.text, "recovered": True}
    seq = emit.finish(event)
    _while_database_away(lambda: _record(services, turn, emit.last_seq, seq), turn.id)
    return ending


def _store(services: WorkerServices, turn: records.Turn, outcome: TurnOutcome, ending: Ending,
           secrets: TurnSecrets = NO_TURN_SECRETS) -> Closing:
    usage = outcome.usage.bounded()
    with services.runtime.db.connection() as conn:
        with conn.transaction():
            return turns.close_turn(
                conn, turn, status=ending.status, error_code=ending.code and ending.code.value,
                prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                usage_estimated=usage.estimated, messages=_stored_messages(turn, outcome, ending.status, secrets))


def _record(services: WorkerServices, turn: records.Turn, last_seq: int, ending_seq: int | None) -> None:
    with services.runtime.db.connection() as conn:
        turns.record_ending(conn, turn_id=turn.id, conversation_id=turn.conversation_id, last_seq=last_seq,
                                    ending_seq=ending_seq)
        conn.commit()


def _while_database_away(step: Callable[[], T], turn_id: str, retry_seconds: float = CLOSE_RETRY_SECONDS) -> T:
    deadline = time.monotonic() + retry_seconds
    pause = threading.Event()
    while True:
        try:
            return step()
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() > deadline:
                raise
            log.warning("turn %s waits for PostgreSQL to store its answer: %s", turn_id, exc)
            pause.wait(1.0)


def _publish_lost(services: WorkerServices, lost: records.ClosedTurn) -> None:
    try:
        seq = publish_recovered(services.bus, lost)
    except Exception:
        with services.runtime.db.connection() as conn:
            turns.release_ending_claim(conn, lost.id)
            conn.commit()
        raise
    with services.runtime.db.connection() as conn:
        turns.record_ending(conn, turn_id=lost.id, conversation_id=lost.conversation_id, last_seq=seq,
                                    ending_seq=seq)
        conn.commit()
