"""Fault 1: the worker SIGKILLed mid-turn, with several turns streaming, each held at a random point
of its answer. A replacement worker takes the turns once their leases lapse (housekeeping): each turn
ends once, its client shows the second attempt's answer without the lost attempt's text in it, and the
history holds the question and that one answer."""
from __future__ import annotations

import psycopg

from app.jobs import make_celery
from app.streaming.bus import StreamBus
from app.worker_presence import live_workers
from tests.faults import harness
from tests.faults.conftest import WORKER_CONCURRENCY
from tests.support.llm_server import Gate
from tests.support.processes import start_worker, wait_until
from workers.housekeeping import run_housekeeping
from workers.services import WorkerServices, worker_runtime

FIRST = harness.words(200, "first")


def _check_turn(stack, client, conversation: str, question: str, answer: str) -> list[str]:
    events = harness.of(client.events, conversation)
    problems = []
    ends = harness.endings(events)
    if len(ends) != 1 or ends[0]["type"] != "done":
        problems.append(f"endings {[(e['type'], e.get('code')) for e in ends]}")
        return problems
    if harness.shown(events) != answer:
        problems.append(f"shown {harness.shown(events)[:60]!r}...")
    lost_attempt = {e["message_id"] for e in events if "message_id" in e} - {ends[0]["message_id"]}
    if len(lost_attempt) != 1:
        problems.append(f"{len(lost_attempt)} other message ids (expected the lost attempt's)")
    if not any(e.get("type") == "progress" and "Restarting" in e.get("message", "") for e in events):
        problems.append("no restart progress")
    problems += harness.numbering_problems(events)
    # The server's record: what was published for the turn holds one ending.
    redis_client = stack.redis_client()
    try:
        published = StreamBus(redis_client).range(conversation, 1)
    finally:
        redis_client.close()
    if [e["type"] for e in published if e["type"] in harness.ENDINGS] != ["done"]:
        problems.append(f"published endings {[e['type'] for e in published if e['type'] in harness.ENDINGS]}")
    with psycopg.connect(stack.settings.database_url) as conn:
        history = conn.execute("select role, content from ai.messages where conversation_id = %s order by ordinal",
                               (conversation,)).fetchall()
        turns = conn.execute("select status, attempts, assistant_message_id::text from ai.turns "
                             "where conversation_id = %s", (conversation,)).fetchall()
    if history != [("user", question), ("assistant", answer)]:
        problems.append(f"history {[(r, c[:30]) for r, c in history]}")
    if turns != [("done", 2, ends[0]["message_id"])]:
        problems.append(f"turns {turns}")
    return problems


def test_worker_sigkill_mid_turn_gives_one_answer_once(fault_stack, llm, scale, report, rng):
    stack = fault_stack
    failures: list[str] = []
    held_so_far = 0
    points: list[int] = []
    for batch in range(scale.kill_batches):
        clients = [harness.connect(stack.web) for _ in range(scale.kill_turns)]
        try:
            conversations = [harness.start(c) for c in clients]
            gate = Gate()  # never opened: the stream dies with its worker
            for _ in clients:
                point = rng.randint(2, 190)
                points.append(point)
                llm.reply_held(FIRST, gate, after_chunks=point, chunks=200)
            answer = f"the answer of the second attempt, batch {batch}"
            for _ in clients:
                llm.reply_text(answer, chunks=6)
            questions = [f"question {batch}.{i}" for i in range(len(clients))]
            for client, conversation, question in zip(clients, conversations, questions):
                client.send({"type": "message", "conversation_id": conversation, "content": question})
            held_so_far += len(clients)
            if not llm.wait_for_held(held_so_far, timeout=30):
                refused = [e for c in clients for e in c.events if e.get("type") == "error"]
                failures.append(f"batch {batch}: the turns never reached the provider: {refused} "
                                f"{stack.worker.log_text()[-3000:]}")
                break
            for client, conversation in zip(clients, conversations):
                client.until(lambda e, c=conversation: e.get("type") == "content" and e["conversation_id"] == c, 15)

            stack.worker.kill()
            name = f"faults-worker-{batch + 1}"
            stack.worker = start_worker(stack.env, stack.root, name, concurrency=WORKER_CONCURRENCY)
            broker = stack.redis_client()
            try:
                wait_until(lambda: f"{name}@" in " ".join(live_workers(broker)), 60, "the replacement worker")
            finally:
                broker.close()
            with psycopg.connect(stack.settings.database_url, autocommit=True) as conn:
                wait_until(lambda: conn.execute(
                    "select bool_and(lease_until < now()) from ai.turns where conversation_id = any(%s)",
                    (conversations,)).fetchone()[0], 20, "the dead attempts' leases to lapse")
            services = WorkerServices(worker_runtime(stack.settings))
            try:
                requeued = run_housekeeping(services, make_celery(stack.settings))["requeued"]
            finally:
                services.close()
            if requeued != len(clients):
                failures.append(f"batch {batch}: housekeeping re-enqueued {requeued} of {len(clients)}")
            for i, (client, conversation, question) in enumerate(zip(clients, conversations, questions)):
                try:
                    harness.until_ending(client, conversation, 60)
                    problems = _check_turn(stack, client, conversation, question, answer)
                except Exception as exc:  # a run that never ended is one failure, not the end of the suite
                    problems = [f"{type(exc).__name__}: {exc}"]
                if problems and i == 0:
                    problems.append(f"worker log: {stack.worker.log_text()[-3000:]}")
                failures += [f"batch {batch} turn {i}: {p}" for p in problems]
        finally:
            for client in clients:
                client.close()
    runs = scale.kill_batches * scale.kill_turns
    failed_runs = len({f.split(":")[0] for f in failures})
    report.add("worker SIGKILL mid-turn", runs,
               "1 done per turn, answer of attempt 2 only, history user+answer, attempts 2",
               f"{runs - failed_runs}/{runs} as expected; killed after {min(points)}-{max(points)} of 200 chunks",
               failed_runs)
    assert not failures, failures
