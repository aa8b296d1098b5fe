"""The daily token budget's ledger in real Redis: reservations share the remainder under concurrency,
settling refunds the unused part, a dead worker's reservation lapses, the day starts again at 00:00 UTC."""
import threading
import uuid
from datetime import datetime, timezone

import pytest

from app.chat.token_budget import CONTENTION_RETRY_AFTER, TokenBudget
from app.protocol import Code, ProtocolError
from workers.token_allowance import MIN_COMPLETION_TOKENS, TurnAllowance


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_concurrent_calls_that_each_want_the_whole_budget_never_spend_more_than_it(client):
    # "Check, then charge" let 10 turns of 3,000 tokens each through a 10,000-token budget.
    budget, chatbot = TokenBudget(client, hold_seconds=60), str(uuid.uuid4())
    barrier, granted, refused = threading.Barrier(10), [], []

    def one():
        barrier.wait()
        try:
            reservation = budget.reserve(chatbot, "user:a", 10_000, wanted=3_000, minimum=1_000)
        except ProtocolError as exc:
            refused.append(exc)
            return
        granted.append(reservation.granted)
        budget.settle(reservation, reservation.granted)  # each uses all it was given

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    settled, reserved = budget.used(chatbot, "user:a")
    assert settled == sum(granted) <= 10_000 and reserved == 0
    # Three whole grants and the last 1,000 fit; the rest were refused, with the time to midnight.
    assert sorted(granted) == [1_000, 3_000, 3_000, 3_000]
    assert len(refused) == 6 and all(r.code == Code.TOKEN_BUDGET_EXCEEDED and r.retry_after >= 1 for r in refused)


def test_settling_gives_back_what_a_call_did_not_use(client):
    budget, chatbot = TokenBudget(client, hold_seconds=60), str(uuid.uuid4())
    first = budget.reserve(chatbot, "user:a", 1_000, wanted=900, minimum=10)
    assert first.granted == 900
    assert budget.reserve(chatbot, "user:a", 1_000, wanted=900, minimum=10).granted == 100
    budget.settle(first, 250)
    assert budget.used(chatbot, "user:a") == (250, 100)
    # What the provider reported beyond the reservation is charged too: the ledger tells the truth.
    third = budget.reserve(chatbot, "user:a", 1_000, wanted=900, minimum=10)
    assert third.granted == 650
    budget.settle(third, 700)
    assert budget.used(chatbot, "user:a") == (950, 100)


def test_a_dead_workers_reservation_lapses_after_the_hold_time(client):
    now = [at("2026-12-02T10:00:00")]
    budget, chatbot = TokenBudget(client, hold_seconds=300, clock=lambda: now[0]), str(uuid.uuid4())
    budget.reserve(chatbot, "user:a", 1_000, wanted=1_000, minimum=10)  # and never settled
    with pytest.raises(ProtocolError) as refused:
        budget.reserve(chatbot, "user:a", 1_000, wanted=1_000, minimum=10, wait_seconds=0)
    # Held, not spent: the caller is told to come back soon, not at midnight.
    assert refused.value.retry_after == CONTENTION_RETRY_AFTER
    now[0] += 301
    assert budget.reserve(chatbot, "user:a", 1_000, wanted=1_000, minimum=10).granted == 1_000


def test_a_retried_call_replaces_the_reservation_its_dead_attempt_left(client):
    budget, chatbot = TokenBudget(client, hold_seconds=300), str(uuid.uuid4())
    budget.reserve(chatbot, "user:a", 2_000, wanted=2_000, minimum=10, reservation_id="turn-1:1")  # worker died
    again = budget.reserve(chatbot, "user:a", 2_000, wanted=2_000, minimum=10, reservation_id="turn-1:1",
                           wait_seconds=0)
    assert again.granted == 2_000 and budget.used(chatbot, "user:a") == (0, 2_000)
    budget.settle(again, 700)
    assert budget.used(chatbot, "user:a") == (700, 0)


def test_a_call_waits_for_open_reservations_to_settle_and_the_web_does_not_count_them(client):
    budget, chatbot = TokenBudget(client, hold_seconds=300), str(uuid.uuid4())
    other = budget.reserve(chatbot, "user:a", 1_000, wanted=900, minimum=10)
    budget.check(chatbot, "user:a", 1_000)   # 900 reserved, none spent: a new message is still taken
    pauses = []

    def other_call_ends(seconds):
        pauses.append(seconds)
        budget.settle(other, 300)

    waiting = TokenBudget(client, hold_seconds=300, pause=other_call_ends)
    mine = waiting.reserve(chatbot, "user:a", 1_000, wanted=600, minimum=400)
    assert len(pauses) == 1 and mine.granted == 600
    assert budget.used(chatbot, "user:a") == (300, 600)


def test_the_budget_starts_again_at_midnight_utc_and_every_key_expires(client):
    now = [at("2026-12-02T23:59:50")]
    budget, chatbot = TokenBudget(client, hold_seconds=60, clock=lambda: now[0]), str(uuid.uuid4())
    budget.settle(budget.reserve(chatbot, "user:a", 500, wanted=500, minimum=1), 500)
    with pytest.raises(ProtocolError) as refused:
        budget.check(chatbot, "user:a", 500)
    assert refused.value.code == Code.TOKEN_BUDGET_EXCEEDED and refused.value.retry_after == 10
    # Another caller's budget is its own.
    budget.check(chatbot, "user:b", 500)
    now[0] = at("2026-12-03T00:00:01")
    budget.check(chatbot, "user:a", 500)
    keys = list(client.scan_iter(match=f"fluxbase:budget:{chatbot}:*"))
    assert keys and all(0 < client.ttl(key) <= 2 * 86400 for key in keys)


def test_a_turns_allowance_caps_max_tokens_to_what_is_left_and_refuses_below_a_useful_answer(client):
    budget, chatbot = TokenBudget(client, hold_seconds=60), str(uuid.uuid4())
    allowance = TurnAllowance(budget, chatbot_id=chatbot, identity="user:a", daily_tokens=2_000,
                              model="gpt-4o-mini", conversation_id="c", turn_id="t")
    messages = [{"role": "system", "content": "x" * 400}, {"role": "user", "content": "hello"}]
    plenty = allowance.reserve(messages, None, 1_000)
    assert plenty.max_tokens == 1_000           # the UTF-8 bound fits: nothing counted, nothing capped
    allowance.settle(plenty, 1_200)
    # 800 left: the UTF-8 bound (~420) leaves ~380 of the 1,000 wanted.
    capped = allowance.reserve(messages, None, 1_000)
    assert MIN_COMPLETION_TOKENS <= capped.max_tokens < 400
    allowance.settle(capped, 700)
    # 100 left: the bound does not fit, the counted prompt (~110 with the margin) does not either.
    with pytest.raises(ProtocolError) as refused:
        allowance.reserve(messages, None, 1_000)
    assert refused.value.code == Code.TOKEN_BUDGET_EXCEEDED
    assert budget.used(chatbot, "user:a") == (1_900, 0)


def test_a_prompt_that_only_fits_when_counted_is_counted(client):
    # 'x' * 4000 is 4,000 bytes but a few hundred tokens: a nearly spent budget is still usable.
    budget, chatbot = TokenBudget(client, hold_seconds=60), str(uuid.uuid4())
    allowance = TurnAllowance(budget, chatbot_id=chatbot, identity="user:a", daily_tokens=2_000,
                              model="gpt-4o-mini", conversation_id="c", turn_id="t")
    grant = allowance.reserve([{"role": "user", "content": "x" * 4_000}], None, 500)
    assert grant.max_tokens == 500 and grant.reservation.granted < 2_000
