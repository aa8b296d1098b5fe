"""Scaling out: two web and two worker processes (and the embeddings worker) on one Redis and one PostgreSQL.

Nothing of a conversation lives in one process: the turn's events go through Redis (pub/sub live, a Stream
for replay), the turn itself is a Celery task any worker may take, and a cancel is a key plus one channel
every worker follows. So a socket on web A gets the events of a turn whichever worker runs it, a socket that
moves to web B resumes exactly where it was, and a cancel sent through web B stops a turn wherever it runs.

The stack has a Redis of its own, so the session's worker never takes these turns; the workers log JSON lines,
whose `turn_id` field says which worker ran which turn.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
import redis

from app.services.redis_server import EmbeddedRedis
from app.worker_presence import live_workers
from config import Settings
from tests.conftest import ALICE, sync_test_chatbots, token_for
from tests.support.chat_client import ChatClient
from tests.support.processes import (
    free_port,
    serving_web,
    start_embeddings_worker,
    start_worker,
    wait_until,
)

WORKERS = ("scale-a", "scale-b")
ENDINGS = ("done", "cancelled", "error")


@pytest.fixture(scope="module")
def scaled(base_env, database, workdir):
    root = workdir / "scaling"
    rd = EmbeddedRedis(root / "redis", free_port())
    procs = []
    try:
        rd.start()
        env = {**base_env, "REDIS_URL": rd.url, "DATA_DIR": str(root / "data"), "CHATBOTS_SYNC_ON_START": "false",
               "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
        settings = Settings.from_env(env)
        sync_test_chatbots(settings)
        workers = {name: start_worker(env, root, name, concurrency=10) for name in WORKERS}
        procs += workers.values()
        embeddings = start_embeddings_worker(env, root, "scale-embeddings")
        procs.append(embeddings)
        client = redis.Redis.from_url(rd.url)
        try:
            wait_until(lambda: any(not p.alive() for p in procs)
                       or all(f"{name}@" in " ".join(live_workers(client)) for name in WORKERS), 60, "both workers")
        finally:
            client.close()
        wait_until(lambda: not embeddings.alive() or " ready." in embeddings.log_text(), 60, "the embeddings worker")
        assert all(p.alive() for p in procs), [p.log_text()[-2000:] for p in procs if not p.alive()]
        for name in ("web-a", "web-b"):
            (root / name).mkdir(parents=True, exist_ok=True)
        with serving_web(env, root / "web-a") as web_a, serving_web(env, root / "web-b") as web_b:
            yield {"a": web_a, "b": web_b, "workers": workers}
    finally:
        for proc in procs:
            proc.stop()
        rd.stop()


def turns_run_by(log_path: Path) -> set[str]:
    """Turn ids of the turns this worker finished, from its JSON log lines."""
    found = set()
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message", "").startswith("turn finished") and record.get("turn_id"):
                found.add(record["turn_id"])
    return found


def turn_ids(owner_conn, conversation_id: str) -> list[str]:
    rows = owner_conn.execute("SELECT id::text FROM ai.turns WHERE conversation_id = %s ORDER BY created_at",
                              (conversation_id,)).fetchall()
    return [r[0] for r in rows]


def connect(base: str) -> ChatClient:
    return ChatClient(base, token_for(ALICE))


def text_of(events: list[dict]) -> str:
    return "".join(e.get("delta", "") for e in events if e.get("type") == "content")


def test_a_socket_on_web_a_gets_the_turns_whichever_worker_runs_them(scaled, llm, owner_conn):
    client = connect(scaled["a"])
    conversations = [client.start_chat("shop", namespace="tests")["conversation_id"] for _ in range(4)]
    ran: dict[str, set[str]] = {}
    rounds = 0
    # Turns go to whichever worker asks Redis first: ask until each worker has finished some, within a deadline.
    while rounds < 10 and not all(ran.get(name) for name in WORKERS):
        rounds += 1
        first = len(client.events)
        for number, conversation in enumerate(conversations):
            llm.reply_text(f"answer {rounds}.{number} from either worker", chunks=4)
            client.send({"type": "message", "conversation_id": conversation, "content": f"question {rounds}"})
        endings = {}
        while len(endings) < len(conversations):
            event = client.recv(30)
            if event["type"] in ENDINGS:
                endings[event["conversation_id"]] = event
        assert all(e["type"] == "done" for e in endings.values()), endings
        # The scripted replies go to whichever request comes first: each answer reached exactly one socket stream.
        answers = sorted(text_of([e for e in client.events[first:] if e.get("conversation_id") == c])
                         for c in conversations)
        assert answers == sorted(f"answer {rounds}.{n} from either worker" for n in range(len(conversations)))
        mine = {t for c in conversations for t in turn_ids(owner_conn, c)}
        wait_until(lambda: mine <= set().union(*(turns_run_by(p.log_path) for p in scaled["workers"].values())),
                   15, "every finished turn in a worker's log")
        ran = {name: turns_run_by(proc.log_path) & mine for name, proc in scaled["workers"].items()}
    assert all(ran[name] for name in WORKERS), f"after {rounds} rounds: {ran}"
    assert not (ran[WORKERS[0]] & ran[WORKERS[1]]), "a turn finished on both workers"
    seqs = collections.Counter((e["conversation_id"], e["seq"]) for e in client.events if "seq" in e)
    assert not [k for k, n in seqs.items() if n > 1], "an event arrived twice"
    client.close()


def test_reconnecting_to_web_b_resumes_exactly(scaled, llm):
    words = " ".join(f"w{i:02d}" for i in range(1, 41))
    a = connect(scaled["a"])
    conversation = a.start_chat("shop", namespace="tests")["conversation_id"]
    llm.reply_slow(words, 0.02, chunks=40)
    a.send({"type": "message", "conversation_id": conversation, "content": "forty words, please"})
    seen = a.until(lambda e: e.get("type") == "content" and len(text_of(a.events)) >= 30, timeout=30)
    assert not any(e["type"] in ENDINGS for e in seen)
    last_seq = max(e["seq"] for e in a.events if "seq" in e)
    a.ws.abort()  # dropped mid-stream, as a lost network would; the turn goes on publishing
    b = connect(scaled["b"])
    started = b.start_chat("shop", namespace="tests", conversation_id=conversation, last_seq=last_seq)
    assert started["type"] == "chat_started" and started["resumed"] is True, started
    b.until(lambda e: e.get("type") in ENDINGS, timeout=30)
    assert b.events[-1]["type"] == "done", b.events[-1]
    before = [e for e in a.events if "seq" in e and e.get("conversation_id") == conversation]
    after = [e for e in b.events if "seq" in e and e.get("type") != "chat_started"]
    assert all(e["seq"] > last_seq for e in after), "web B replayed an event the client had"
    assert text_of(before) + text_of(after) == words
    seqs = [e["seq"] for e in before + after]
    assert len(seqs) == len(set(seqs)), "an event arrived twice"
    b.close()


def test_a_cancel_sent_through_web_b_stops_the_turn_on_its_worker(scaled, llm, owner_conn):
    a = connect(scaled["a"])
    conversation = a.start_chat("shop", namespace="tests")["conversation_id"]
    gate = llm.reply_held("this answer is held until the test opens it or the worker lets go", after_chunks=2)
    a.send({"type": "message", "conversation_id": conversation, "content": "a long answer"})
    a.until(lambda e: e.get("type") == "content", timeout=30)
    assert llm.wait_for_held(1, timeout=10)
    b = connect(scaled["b"])
    assert b.start_chat("shop", namespace="tests", conversation_id=conversation)["resumed"] is True
    b.send({"type": "cancel", "conversation_id": conversation})
    # The worker closes the provider stream under the held reply: the model service sees the disconnect.
    assert llm.wait_for_disconnect(timeout=15), "the held stream was not closed by the cancel"
    assert a.until(lambda e: e.get("type") in ENDINGS, timeout=15)[-1]["type"] == "cancelled"
    assert b.until(lambda e: e.get("type") in ENDINGS, timeout=15)[-1]["type"] == "cancelled"
    gate.open()
    (turn,) = turn_ids(owner_conn, conversation)
    status = owner_conn.execute("SELECT status FROM ai.turns WHERE id = %s", (turn,)).fetchone()[0]
    assert status == "cancelled"
    wait_until(lambda: [name for name, proc in scaled["workers"].items() if turn in turns_run_by(proc.log_path)],
               15, "the cancelled turn in its worker's log")
    runners = [name for name, proc in scaled["workers"].items() if turn in turns_run_by(proc.log_path)]
    assert len(runners) == 1, runners
    a.close()
    b.close()
