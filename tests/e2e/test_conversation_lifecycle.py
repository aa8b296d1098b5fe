"""The conversation lifecycle over real sockets: deletion through the REST API, TTL expiry by the expiry
job (driven directly, with the expiry moved by SQL), and non-persisted conversations that live while a
socket holds them and are gone a grace period after (a stack of its own with a two-second grace)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest
import redis

from app.runtime import Runtime
from tests.conftest import token_for
from tests.support.chat_client import ChatClient
from tests.support.conversations import (
    conversation_row,
    count_rows,
    set_expiry,
    sync_bots,
)
from tests.support.processes import wait_until
from workers.expiry import expire_conversations

GRACE = 2


@pytest.fixture(scope="module")
def bots(database):
    return sync_bots(database)


@pytest.fixture
def runtime(database):
    runtime = Runtime(database)
    yield runtime
    runtime.close()


def rest(base: str, method: str, path: str, user_id: str) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method,
                                     headers={"Authorization": f"Bearer {token_for(user_id)}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def seq_key(conversation_id: str) -> str:
    return f"fluxbase:conv:{{{conversation_id}}}:seq"


def test_a_deleted_conversation_cannot_be_resumed_or_continued(web, test_chatbots, bots, llm, database):
    user = str(uuid.uuid4())
    client = ChatClient(web, token_for(user))
    try:
        conversation = client.start_chat("keep", namespace=bots["namespace"])["conversation_id"]
        llm.reply_text("You have five orders.", usage=(50, 5))
        assert client.ask(conversation, "How many orders?")[-1]["type"] == "done"
        status, listed = rest(web, "GET", "/api/v1/ai/conversations", user)
        assert status == 200 and [c["id"] for c in listed["conversations"]] == [conversation]
        assert listed["conversations"][0]["message_count"] == 2
        keys = redis.Redis.from_url(database.redis_url)
        try:
            assert keys.exists(seq_key(conversation))
            assert rest(web, "DELETE", f"/api/v1/ai/conversations/{conversation}", user) == \
                (200, {"deleted": True, "id": conversation})
            assert not keys.exists(seq_key(conversation))
        finally:
            keys.close()
        assert count_rows(database, "ai.messages", conversation) == 0
        # The socket that had it open can no longer use it, and nobody can come back to it.
        client.send({"type": "message", "conversation_id": conversation, "content": "and now?"})
        refused = client.until_type("error")[-1]
        assert refused["code"] == "CONVERSATION_NOT_FOUND"
        other = ChatClient(web, token_for(user))
        try:
            resumed = other.start_chat("keep", namespace=bots["namespace"], conversation_id=conversation)
            assert (resumed["type"], resumed["code"]) == ("error", "CONVERSATION_NOT_FOUND")
        finally:
            other.close()
        assert rest(web, "GET", f"/api/v1/ai/conversations/{conversation}", user)[0] == 404
    finally:
        client.close()


def test_a_persisted_conversation_expires_ttl_after_its_last_message_and_the_job_deletes_it(
        web, test_chatbots, bots, llm, database, runtime):
    user = str(uuid.uuid4())
    client = ChatClient(web, token_for(user))
    try:
        conversation = client.start_chat("keep", namespace=bots["namespace"])["conversation_id"]
        llm.reply_text("Noted.")
        assert client.ask(conversation, "Remember this")[-1]["type"] == "done"
    finally:
        client.close()
    # Kept after its socket closed: 24 hours (its conversation-ttl) from the answer.
    row = conversation_row(database, conversation)
    assert row["persisted"] is True and abs(row["remaining"].total_seconds() - 24 * 3600) < 60
    expire_conversations(runtime.db, runtime.bus)
    assert conversation_row(database, conversation) is not None
    # The clock moves past the ttl: absent at once, deleted by the job.
    set_expiry(database, conversation, "now() - interval '1 second'")
    again = ChatClient(web, token_for(user))
    try:
        resumed = again.start_chat("keep", namespace=bots["namespace"], conversation_id=conversation)
        assert (resumed["type"], resumed["code"]) == ("error", "CONVERSATION_NOT_FOUND")
    finally:
        again.close()
    assert rest(web, "GET", "/api/v1/ai/conversations", user)[1]["total"] == 0
    assert count_rows(database, "ai.messages", conversation) == 2
    assert expire_conversations(runtime.db, runtime.bus) >= 1
    assert conversation_row(database, conversation) is None
    assert count_rows(database, "ai.messages", conversation) == 0


@pytest.fixture(scope="module")
def short_grace(base_env, workdir, bots):
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "short-grace",
                        env={"EPHEMERAL_CONVERSATION_GRACE_SECONDS": str(GRACE)}) as running:
        yield running


def _remaining(database, conversation: str) -> float:
    row = conversation_row(database, conversation)
    return row["remaining"].total_seconds() if row else float("-inf")


def test_a_non_persisted_conversation_lives_while_its_socket_does_and_is_gone_a_grace_after(
        short_grace, bots, llm, database, runtime):
    user = str(uuid.uuid4())
    client = ChatClient(short_grace.web, token_for(user))
    try:
        conversation = client.start_chat("brief", namespace=bots["namespace"])["conversation_id"]
        row = conversation_row(database, conversation)
        assert row["persisted"] is False and row["idle_seconds"] == GRACE
        created = row["created_at"]
        # The web process renews it while the socket is open: it outlives its grace several times over.
        wait_until(lambda: (conversation_row(database, conversation)["expires_at"] - created).total_seconds()
                   > 3 * GRACE, 20, "the socket's renewals")
        expire_conversations(runtime.db, runtime.bus)
        llm.reply_text("Still here.")
        assert client.ask(conversation, "Are you there?")[-1]["type"] == "done"
    finally:
        client.close()
    # The socket let go: the grace runs out, it reads as absent, and the job deletes it, messages included.
    wait_until(lambda: _remaining(database, conversation) < 0, 10, "the grace to run out")
    back = ChatClient(short_grace.web, token_for(user))
    try:
        resumed = back.start_chat("brief", namespace=bots["namespace"], conversation_id=conversation)
        assert (resumed["type"], resumed["code"]) == ("error", "CONVERSATION_NOT_FOUND")
    finally:
        back.close()
    assert count_rows(database, "ai.messages", conversation) == 2
    expire_conversations(runtime.db, runtime.bus)
    assert conversation_row(database, conversation) is None
    assert count_rows(database, "ai.messages", conversation) == 0


def test_a_non_persisted_conversation_is_not_deleted_under_its_running_turn(short_grace, bots, llm, database,
                                                                              runtime):
    user = str(uuid.uuid4())
    client = ChatClient(short_grace.web, token_for(user))
    conversation = client.start_chat("brief", namespace=bots["namespace"])["conversation_id"]
    gate = llm.reply_held("The answer outlived the socket.", after_chunks=2, chunks=5)
    try:
        client.send({"type": "message", "conversation_id": conversation, "content": "Take your time"})
        assert llm.wait_for_held(1)
    finally:
        client.close()
    wait_until(lambda: _remaining(database, conversation) < 0, 10, "the grace to run out")
    expire_conversations(runtime.db, runtime.bus)
    assert conversation_row(database, conversation) is not None
    # The client comes back for its answer: the running turn keeps the conversation live.
    back = ChatClient(short_grace.web, token_for(user))
    try:
        resumed = back.start_chat("brief", namespace=bots["namespace"], conversation_id=conversation)
        assert resumed["type"] == "chat_started" and resumed["resumed"] is True
        gate.open()
        ending = back.until(lambda e: e["type"] in ("done", "error", "cancelled"))[-1]
        assert ending["type"] == "done"
    finally:
        gate.open()
        back.close()
    # The turn's end and the socket's release both gave it the grace; then it goes.
    wait_until(lambda: _remaining(database, conversation) < 0, 10, "the grace to run out again")
    expire_conversations(runtime.db, runtime.bus)
    assert conversation_row(database, conversation) is None
