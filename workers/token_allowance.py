"""What one model call of a turn may spend of the daily token budget: reserved before the call, settled after.

A call reserves its prompt and its completion allowance (`max_tokens`), and `max_tokens` is capped
to what the budget still holds, so a call can only overspend if the provider ignores `max_tokens`
or counts the prompt higher than the reservation did.

The prompt is reserved at its UTF-8 length, which a byte-level BPE tokenizer can never exceed
(every token covers at least one byte), plus the chat format's per-message tokens. That costs a
`len()`, not a tokenizer pass; only when so much would not fit is the prompt counted with the
tokenizer (with a margin for providers whose tokenizer differs), so a nearly spent budget is still
used to the end.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from app.chat.token_budget import Reservation, TokenBudget
from app.protocol import ProtocolError
from app.providers.token_count import count_prompt

log = logging.getLogger(__name__)

# A call is not made for less than this many answer tokens: it would stop mid-word.
MIN_COMPLETION_TOKENS = 32
_TOKENS_PER_MESSAGE = 8
_COUNTED_MARGIN = 1.10


@dataclass(frozen=True)
class Grant:
    max_tokens: int
    reservation: Reservation | None   # None: not metered (Redis was unreachable)


def _bytes_bound(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None) -> int:
    total = 0
    for message in messages:
        total += _TOKENS_PER_MESSAGE
        for value in message.values():
            total += len(value.encode()) if isinstance(value, str) else len(str(value).encode())
    for tool in tools or ():
        total += _TOKENS_PER_MESSAGE + len(str(tool).encode())
    return total


class TurnAllowance:
    """The daily budget of one (chatbot, caller), as the calls of one turn see it."""

    def __init__(self, budget: TokenBudget, *, chatbot_id: str, identity: str, daily_tokens: int, model: str,
                 conversation_id: str, turn_id: str):
        self._budget = budget
        self._chatbot_id = chatbot_id
        self._identity = identity
        self._daily = daily_tokens
        self._model = model
        self._conversation_id = conversation_id
        # Calls are numbered per attempt, so a retried attempt's n-th call replaces the reservation a
        # dead worker's n-th call left open instead of being refused by it.
        self._turn_id = turn_id
        self._calls = 0

    def reserve(self, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None,
                max_tokens: int) -> Grant:
        """The call's `max_tokens` within the budget, or TOKEN_BUDGET_EXCEEDED."""
        self._calls += 1
        call_id = f"{self._turn_id}:{self._calls}"
        try:
            try:
                return self._reserve(call_id, _bytes_bound(messages, tools), max_tokens, wait_seconds=0)
            except ProtocolError:
                counted = int(count_prompt(self._model, messages, tools) * _COUNTED_MARGIN) + _TOKENS_PER_MESSAGE
                return self._reserve(call_id, counted, max_tokens)
        except redis.RedisError as exc:
            # Without Redis there is no ledger to keep (and none survives its data loss): the call
            # goes ahead unmetered rather than failing every turn for a Redis restart.
            log.warning("token budget not checked for chatbot %s: %s", self._chatbot_id, exc)
            return Grant(max_tokens, None)

    def settle(self, grant: Grant, used_tokens: int) -> None:
        if grant.reservation is None:
            return
        try:
            self._budget.settle(grant.reservation, used_tokens)
        except redis.RedisError as exc:
            # The reservation lapses by itself; what was used goes uncounted.
            log.warning("token budget: %d tokens of chatbot %s not settled: %s", used_tokens, self._chatbot_id, exc)

    def _reserve(self, call_id: str, prompt_tokens: int, max_tokens: int, **wait) -> Grant:
        minimum = prompt_tokens + min(max_tokens, MIN_COMPLETION_TOKENS)
        reservation = self._budget.reserve(self._chatbot_id, self._identity, self._daily,
                                           wanted=prompt_tokens + max_tokens, minimum=minimum,
                                           reservation_id=call_id, conversation_id=self._conversation_id, **wait)
        return Grant(min(max_tokens, reservation.granted - prompt_tokens), reservation)
