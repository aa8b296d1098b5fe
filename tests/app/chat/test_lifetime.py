"""How long conversations live (app/chat/lifetime.py, keepalive.py, workers/expiry.py) on the real database:
expiry moved by turns, renewed by sockets' holds, and expired conversations deleted by the expiry job."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.chat import conversations, turns
from app.chat.keepalive import ConversationKeeper
from app.runtime import Runtime
from tests.support.conversations import (
    connect,
    conversation_row,
    count_rows,
    finish_open_turns,
    make_conversation,
    set_expiry,
    sync_bots,
)
from tests.support.processes import wait_until
from workers.expiry import expire_conversations


@pytest.fixture(scope="module")
def bots(database):
    return sync_bots(database)


@pytest.fixture
def runtime(database):
    runtime = Runtime(database)
    yield runtime
    runtime.close()


def user() -> str:
    return str(uuid.uuid4())


def _close_to(remaining: timedelta, seconds: float, slack: float = 30) -> bool:
    return abs(remaining.total_seconds() - seconds) <= slack


def test_a_persisted_conversation_lives_ttl_after_its_last_message(database, bots):
    made = make_conversation(database, bots["keep"], user(), ttl_hours=24)
    assert _close_to(conversation_row(database, made.id)["remaining"], 24 * 3600)
    set_expiry(database, made.id, "now() + interval '1 minute'")
    # A turn starting (the user's message) and closing (the answer) each push it to ttl from now.
    with connect(database) as conn:
        turn = conversations.start_turn(conn, made.id, "again?", max_turns=100)
    row = conversation_row(database, made.id)
    assert row["idle_seconds"] == 24 * 3600 and row["persisted"] is True
    assert _close_to(row["remaining"], 24 * 3600)
    set_expiry(database, made.id, "now() + interval '1 minute'")
    with connect(database) as conn, conn.transaction():
        turns.close_turn(conn, turn, status="done", error_code=None, prompt_tokens=1, completion_tokens=1)
    assert _close_to(conversation_row(database, made.id)["remaining"], 24 * 3600)


def test_a_non_persisted_conversation_starts_with_the_grace_and_a_turn_end_gives_it_again(database, bots):
    made = make_conversation(database, bots["brief"], user(), persisted=False, grace_seconds=120)
    row = conversation_row(database, made.id)
    assert row["persisted"] is False and row["idle_seconds"] == 120
    assert _close_to(row["remaining"], 120, slack=10)
    set_expiry(database, made.id, "now() + interval '1 second'")
    with connect(database) as conn:
        turn = conversations.start_turn(conn, made.id, "hello", max_turns=100)
    assert _close_to(conversation_row(database, made.id)["remaining"], 120, slack=10)
    # Its socket went away during the turn and the grace ran out: the end of the turn gives it back,
    # so the client can still come for the answer.
    set_expiry(database, made.id, "now() - interval '1 second'")
    with connect(database) as conn, conn.transaction():
        turns.close_turn(conn, turn, status="done", error_code=None, prompt_tokens=1, completion_tokens=1)
    assert _close_to(conversation_row(database, made.id)["remaining"], 120, slack=10)


def test_the_expiry_job_deletes_expired_conversations_with_their_turns_and_messages(database, bots, runtime):
    expired = make_conversation(database, bots["keep"], user(), exchanges=[("q", "a")], with_query=True)
    live = make_conversation(database, bots["keep"], user(), exchanges=[("q", "a")])
    forever = make_conversation(database, bots["keep"], user(), ttl_hours=None, exchanges=[("q", "a")])
    assert conversation_row(database, forever.id)["expires_at"] is None
    runtime.bus.publish(expired.id, {"type": "content", "delta": "x"}, turn_start=True)
    assert runtime.bus.counter(expired.id) == 1
    set_expiry(database, expired.id, "now() - interval '1 second'")
    assert count_rows(database, "ai.messages", expired.id) == 4
    assert expire_conversations(runtime.db, runtime.bus) >= 1
    assert conversation_row(database, expired.id) is None
    assert count_rows(database, "ai.messages", expired.id) == 0 and count_rows(database, "ai.turns", expired.id) == 0
    assert runtime.bus.counter(expired.id) is None and runtime.bus.range(expired.id, 1) == []
    assert conversation_row(database, live.id) is not None and conversation_row(database, forever.id) is not None


def test_the_expiry_job_never_deletes_a_conversation_under_an_unfinished_turn(database, bots, runtime):
    running = make_conversation(database, bots["brief"], user(), persisted=False, exchanges=[("q", "a")],
                                open_turn="still thinking")
    try:
        set_expiry(database, running.id, "now() - interval '1 second'")
        expire_conversations(runtime.db, runtime.bus)
        assert conversation_row(database, running.id) is not None
        assert count_rows(database, "ai.messages", running.id) == 3
        # It is still live for its owner (the turn's answer is on its way).
        with connect(database) as conn:
            found = conversations.find_owned_conversation(conn, conversation_id=running.id, chatbot_id=bots["brief"],
                                                          user_id=conversation_row(database, running.id)["user_id"],
                                                          user_role="authenticated")
        assert found is not None
    finally:
        finish_open_turns(database, running.id)


def test_the_expiry_job_works_in_bounded_batches(database, bots, runtime):
    made = [make_conversation(database, bots["keep-too"], user()) for _ in range(5)]
    for conversation in made:
        set_expiry(database, conversation.id, "now() - interval '1 hour'")
    # Older expiries go first, one batch at a time; later runs take the rest.
    assert expire_conversations(runtime.db, runtime.bus, batch=2, max_batches=1) == 2
    expire_conversations(runtime.db, runtime.bus, batch=2, max_batches=10)
    assert all(conversation_row(database, conversation.id) is None for conversation in made)


def test_an_expired_conversation_reads_as_absent_before_the_job_runs(database, bots):
    owner = user()
    made = make_conversation(database, bots["keep"], owner)
    set_expiry(database, made.id, "now() - interval '1 second'")
    with connect(database) as conn:
        assert conversations.find_owned_conversation(conn, conversation_id=made.id, chatbot_id=bots["keep"],
                                                     user_id=owner, user_role="authenticated") is None


def test_the_keeper_renews_what_sockets_hold_and_gives_the_grace_when_they_let_go(database, bots, runtime):
    ephemeral = make_conversation(database, bots["brief"], user(), persisted=False, grace_seconds=60)
    kept = make_conversation(database, bots["keep"], user())
    keeper = ConversationKeeper(runtime.db, grace_seconds=60)
    try:
        keeper.hold(ephemeral.id)
        keeper.hold(ephemeral.id)  # two sockets of this process
        keeper.hold(kept.id)
        set_expiry(database, ephemeral.id, "now() + interval '2 seconds'")
        set_expiry(database, kept.id, "now() + interval '5 minutes'")
        assert keeper.renew() == 1
        assert _close_to(conversation_row(database, ephemeral.id)["remaining"], 60, slack=5)
        # A persisted conversation's clock is its last message, not an open socket.
        assert _close_to(conversation_row(database, kept.id)["remaining"], 300, slack=5)
        keeper.release([ephemeral.id])
        assert ephemeral.id in keeper.held()
        set_expiry(database, ephemeral.id, "now() + interval '2 seconds'")
        keeper.release([ephemeral.id, kept.id])
        assert keeper.held() == []
        keeper.flush()  # the keeper's own greenlet does this within RELEASE_BATCH_SECONDS
        assert _close_to(conversation_row(database, ephemeral.id)["remaining"], 60, slack=5)
        # A renewal never shortens an expiry a turn's end pushed further.
        set_expiry(database, ephemeral.id, "now() + interval '1 hour'")
        keeper.hold(ephemeral.id)
        keeper.renew()
        assert _close_to(conversation_row(database, ephemeral.id)["remaining"], 3600, slack=5)
        # Expired is final, even under an open socket.
        set_expiry(database, ephemeral.id, "now() - interval '1 second'")
        assert keeper.renew() == 0
        keeper.release([ephemeral.id])
        keeper.flush()
        assert conversation_row(database, ephemeral.id)["remaining"].total_seconds() < 0
    finally:
        keeper.stop()


def test_the_keeper_starts_the_grace_of_released_conversations_by_itself(database, bots, runtime):
    made = [make_conversation(database, bots["brief"], user(), persisted=False, grace_seconds=30) for _ in range(3)]
    keeper = ConversationKeeper(runtime.db, grace_seconds=30)
    try:
        for conversation in made:
            keeper.hold(conversation.id)
            set_expiry(database, conversation.id, "now() + interval '1 second'")
        keeper.release([conversation.id for conversation in made])  # sockets closing together
        wait_until(lambda: all(conversation_row(database, c.id)["remaining"].total_seconds() > 20 for c in made),
                   5, "the released conversations' grace")
    finally:
        keeper.stop()
