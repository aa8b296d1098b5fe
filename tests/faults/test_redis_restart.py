"""Fault 2: Redis restarted (without persistence: every buffer, counter and subscription gone) while
several answers stream, at a random point of the stream. Each socket stays open and gets its whole
answer: every delta, or `events_lost` and the stored answer with the ending; never a silent gap. The
same sockets then carry a next turn."""
from __future__ import annotations

import threading

import psycopg

from tests.faults import harness

TEXT = harness.words(100, "r")


def _check(stack, events: list[dict], conversation: str) -> tuple[list[str], bool]:
    problems = []
    ends = harness.endings(events)
    lost = any(e.get("type") == "events_lost" for e in events)
    if [e["type"] for e in ends] != ["done"]:
        return [f"endings {[(e['type'], e.get('code')) for e in ends]}"], lost
    if harness.shown(events) != TEXT:
        problems.append(f"shown {harness.shown(events)[:50]!r}")
    if not lost and harness.delta_text(events) != TEXT:
        problems.append("deltas missing and no events_lost (a silent loss)")
    if lost and not ends[0].get("recovered"):
        problems.append("events_lost but the ending did not bring the stored answer")
    problems += harness.numbering_problems(events)
    with psycopg.connect(stack.settings.database_url) as conn:
        stored = conn.execute("select content from ai.messages where conversation_id = %s and role = 'assistant'",
                              (conversation,)).fetchall()
    if stored != [(TEXT,)]:
        problems.append(f"stored {[s[0][:30] for s in stored]}")
    return problems, lost


def test_a_redis_restart_mid_stream_loses_nothing_silently(fault_stack, llm, scale, report, rng):
    stack = fault_stack
    failures: list[str] = []
    signalled = points = 0
    point_range: list[int] = []
    outages: list[float] = []
    for restart in range(scale.redis_restarts):
        clients = [harness.connect(stack.web) for _ in range(scale.redis_turns)]
        try:
            conversations = [harness.start(c) for c in clients]
            for _ in clients:
                llm.reply_slow(TEXT, 0.02, chunks=100)
            for client, conversation in zip(clients, conversations):
                client.send({"type": "message", "conversation_id": conversation, "content": "a hundred words"})
            point = rng.randint(3, 70)  # deltas the first client has when Redis goes
            point_range.append(point)
            clients[0].until(lambda e: len([x for x in clients[0].events if x.get("type") == "content"]) >= point, 20)
            stack.redis.stop()
            # Every other outage outlasts the publishers' retries (a blip is ridden out unseen), so
            # events are dropped and the loss must be said.
            outage = 0.0 if restart % 2 == 0 else rng.uniform(1.0, 2.5)
            outages.append(outage)
            threading.Event().wait(outage)  # the fault's length, not a wait for a condition
            stack.redis.start()
            for i, (client, conversation) in enumerate(zip(clients, conversations)):
                points += 1
                try:
                    harness.until_ending(client, conversation, 60)
                    problems, lost = _check(stack, harness.of(client.events, conversation), conversation)
                    signalled += lost
                    # The socket recovered: it carries the next turn.
                    llm.reply_text(f"after restart {restart}.{i}")
                    after = client.ask(conversation, "still there?", timeout=60)
                    if after[-1]["type"] != "done" or harness.delta_text(after) != f"after restart {restart}.{i}":
                        problems.append(f"next turn: {after[-1]}")
                except Exception as exc:
                    problems = [f"{type(exc).__name__}: {exc}"]
                failures += [f"restart {restart} turn {i}: {p}" for p in problems]
        finally:
            for client in clients:
                client.close()
    failed_runs = len({f.split(":")[0] for f in failures})
    report.add("Redis restart mid-stream", points,
               "socket stays; every delta, or events_lost + stored answer; next turn works",
               f"{points - failed_runs}/{points} as expected ({signalled} with the loss signalled); "
               f"restarted after {min(point_range)}-{max(point_range)} of 100 deltas, away up to {max(outages):.1f} s",
               failed_runs)
    assert not failures, failures
