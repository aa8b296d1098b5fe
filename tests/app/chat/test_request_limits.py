"""Rate and daily limits in real Redis: exact under concurrency, the day reset at 00:00 UTC, every
key with an expiry."""
import threading
import uuid
from datetime import datetime, timezone

import pytest

from app.auth.tokens import Principal
from app.chat.request_limits import RequestLimits, caller_identity
from app.protocol import Code, ProtocolError


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_n_concurrent_requests_against_a_limit_of_n_minus_one_let_exactly_that_many_through(client):
    limits, chatbot, who = RequestLimits(client), str(uuid.uuid4()), "user:a"
    barrier, outcomes = threading.Barrier(61), []

    def one():
        barrier.wait()
        try:
            limits.check(chatbot, who, per_minute=60, per_day=1000)
            outcomes.append("ok")
        except ProtocolError as refused:
            outcomes.append(refused)

    threads = [threading.Thread(target=one) for _ in range(61)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [o for o in outcomes if o != "ok"]
    assert outcomes.count("ok") == 60 and len(refused) == 1
    assert refused[0].code == Code.RATE_LIMIT_EXCEEDED and 1 <= refused[0].retry_after <= 60
    # Another caller, or another chatbot, has a quota of its own.
    limits.check(chatbot, "user:b", per_minute=60, per_day=1000)
    limits.check(str(uuid.uuid4()), who, per_minute=60, per_day=1000)


def test_the_daily_limit_starts_again_at_midnight_utc(client):
    now = [at("2026-12-02T23:59:58")]
    limits, chatbot = RequestLimits(client, clock=lambda: now[0]), str(uuid.uuid4())
    for _ in range(2):
        limits.check(chatbot, "user:a", per_minute=100, per_day=2)
    with pytest.raises(ProtocolError) as refused:
        limits.check(chatbot, "user:a", per_minute=100, per_day=2)
    assert refused.value.code == Code.DAILY_LIMIT_EXCEEDED and refused.value.retry_after == 2
    now[0] = at("2026-12-03T00:00:01")
    limits.check(chatbot, "user:a", per_minute=100, per_day=2)


def test_every_key_expires_by_itself(client):
    limits, chatbot = RequestLimits(client), str(uuid.uuid4())
    limits.check(chatbot, "user:ttl", per_minute=5, per_day=5)
    keys = [key for key in client.scan_iter("fluxbase:limits*") if chatbot.encode() in key]
    assert len(keys) == 2 and all(client.ttl(key) > 0 for key in keys)


def test_anonymous_callers_are_told_apart_by_key_and_address_and_users_by_id():
    anon = Principal("anon", None, {"role": "anon", "iat": 1})
    assert caller_identity(anon, "10.0.0.1") == caller_identity(anon, "10.0.0.1")
    assert caller_identity(anon, "10.0.0.1") != caller_identity(anon, "10.0.0.2")
    assert caller_identity(anon, "10.0.0.1") != caller_identity(Principal("anon", None, {"iat": 2}), "10.0.0.1")
    user = Principal("authenticated", "a11ce000-0000-4000-8000-000000000001", {})
    assert caller_identity(user, "10.0.0.1") == caller_identity(user, "10.9.9.9") == \
           "user:a11ce000-0000-4000-8000-000000000001"


def test_new_conversations_per_caller_are_limited_across_chatbots(client):
    limits, who = RequestLimits(client), f"user:{uuid.uuid4()}"
    for _ in range(3):
        limits.check_new_conversation(who, per_minute=3)
    with pytest.raises(ProtocolError) as refused:
        limits.check_new_conversation(who, per_minute=3)
    assert refused.value.code == Code.RATE_LIMIT_EXCEEDED and refused.value.extra == {"limit": "conversations"}
    limits.check_new_conversation(f"user:{uuid.uuid4()}", per_minute=3)


def test_a_socket_may_send_a_burst_then_its_rate():
    from app.chat.frame_budget import FrameBudget

    now = [100.0]
    budget = FrameBudget(5, clock=lambda: now[0])
    assert [budget.take() for _ in range(10)] == [None] * 10  # a burst of twice the rate
    wait = budget.take()
    assert wait is not None and 0 < wait <= 0.2
    now[0] += 0.2
    assert budget.take() is None and budget.take() is not None
    now[0] += 60
    assert [budget.take() for _ in range(10)] == [None] * 10 and budget.take() is not None  # never above the burst
