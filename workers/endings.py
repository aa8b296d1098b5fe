"""How an attempt ends: one table from what stopped it to the turn's status and protocol ending, and
publishing endings that never reached Redis.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from app import protocol
from app.chat import records, turns
from app.protocol import Code, ProtocolError
from app.providers.base import NoProviderConfigured, ProviderAuthError, ProviderError
from app.unavailable import is_unavailable
from workers.loop import TurnCancelled, TurnOutcome, TurnTimedOut

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    status: str             # done | cancelled | error, as stored on the turn
    code: Code | None
    event: dict


def _error(code: Code, message: str | None = None, retry_after: float | None = None) -> Ending:
    return Ending("error", code, protocol.error(code, message, retry_after=retry_after))


def _provider_error(exc: ProviderError) -> Ending:
    if isinstance(exc, ProviderAuthError):
        return _error(Code.PROVIDER_AUTH_FAILED)
    return _error(Code.PROVIDER_ERROR, f"{protocol.text_of(Code.PROVIDER_ERROR)}: {exc.detail}", exc.retry_after)


def _kind(*types: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda exc: isinstance(exc, types)


# First match wins; anything else is a server fault (INTERNAL_ERROR, details only in the log).
FAILURES: tuple[tuple[Callable[[BaseException], bool], Callable[[BaseException], Ending]], ...] = (
    (_kind(TurnCancelled), lambda exc: Ending("cancelled", None, protocol.cancelled())),
    (_kind(TurnTimedOut), lambda exc: _error(Code.INTERNAL_ERROR, "The answer took too long and was stopped")),
    # The text starts with the fixed one and says how to add a provider.
    (_kind(NoProviderConfigured), lambda exc: _error(Code.NO_PROVIDER, str(exc) or None)),
    (_kind(ProviderError), _provider_error),
    # With its extra fields (SETTINGS_MISSING's `setting`, a limit's `limit`), as the socket would send it.
    (_kind(ProtocolError), lambda exc: Ending("error", exc.code, protocol.error_from(exc))),
    (is_unavailable, lambda exc: _error(Code.SERVICE_UNAVAILABLE, retry_after=protocol.SERVICE_RETRY_AFTER)),
)


def ending_for(exc: BaseException, turn_id: str) -> Ending:
    for matches, build in FAILURES:
        if matches(exc):
            return build(exc)
    # Also gevent.Timeout from Celery's hard time limit.
    log.error("turn %s failed", turn_id, exc_info=exc)
    return _error(Code.INTERNAL_ERROR)


def unstorable() -> Ending:
    return _error(Code.INTERNAL_ERROR, "The answer could not be stored")


def success(outcome: TurnOutcome) -> Ending:
    # As stored: a provider's absurd counts are clamped, so the event and the usage figures agree.
    return Ending("done", None, protocol.done(outcome.usage.bounded().as_dict()))


def publish_recovered(bus, turn: records.ClosedTurn) -> int | None:
    """Publish a closed turn's ending that never reached clients, as rebuilt from PostgreSQL.

    Clients may have missed any of the turn's events, so it says so (`events_lost`) and the ending
    carries the stored answer (`content`). Skipped when the latest turn's buffer already holds
    an ending for the message (the publish worked, only its bookkeeping did not).
    """
    kept = bus.replay(turn.conversation_id, None).events
    if any(e.get("message_id") == turn.assistant_message_id and protocol.is_ending(e) for e in kept):
        return max(e["seq"] for e in kept)
    floor = max([turn.conversation_last_seq, *(e["seq"] for e in kept)])
    mine = any(e.get("message_id") == turn.assistant_message_id for e in kept)
    lost = {**protocol.events_lost(None, None, turn.assistant_message_id), "message_id": turn.assistant_message_id}
    seq = bus.publish(turn.conversation_id, lost, turn_start=not mine, floor=floor)
    ending = {**turns.ending_event(turn), "content": turn.content or "", "recovered": True}
    return bus.publish(turn.conversation_id, ending, floor=seq)
