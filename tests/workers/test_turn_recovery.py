"""A worker killed mid-turn: the turn is run again by another worker and ends with exactly one answer.

Runs on its own broker (Redis database 1) with its own two workers, so the session's main worker
never takes part and the kill is deterministic. The surviving worker gets the turn from
housekeeping (what beat runs every 15 s), which this test triggers itself once the dead worker's
lock has lapsed.
"""
import psycopg
import redis
from psycopg.rows import dict_row

from app.chat import conversations, turns
from app.chatbots import repository as chatbots
from app.jobs import HOUSEKEEPING, QUEUE, RUN_TURN, make_celery
from app.streaming.bus import StreamBus
from app.worker_presence import live_workers
from config import Settings
from tests.conftest import ALICE
from tests.support.processes import start_worker, wait_until
from workers.services import WorkerServices, worker_runtime
from workers.turn import execute_turn
from workers.turn_lock import lock_key


def test_killed_worker_yields_exactly_one_final_answer(base_env, database, test_chatbots, llm, workdir, owner_conn):
    env = {**base_env, "REDIS_URL": base_env["REDIS_URL"].rsplit("/", 1)[0] + "/1",
           "CELERY_VISIBILITY_TIMEOUT": "5"}  # a short visibility timeout must not run the turn twice
    settings = Settings.from_env(env)
    celery = make_celery(settings)
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        bot = chatbots.load_enabled(conn, "tests", "shop")
        conversation = conversations.create_conversation(conn, chatbot_id=bot.id, user_id=ALICE,
                                                         user_role="authenticated", ttl_hours=1)
        turn = conversations.start_turn(conn, conversation.id, "please answer", max_turns=10)
        conn.commit()
    llm.reply_stall(after_chunks=3, text="a partial answer that will be lost")
    llm.reply_text("the one and only final answer", usage=(11, 7))

    first = start_worker(env, workdir, "worker-doomed", concurrency=4)
    second = None
    try:
        celery.send_task(RUN_TURN, args=[turn.id], queue=QUEUE)
        assert llm.wait_for_stall(30), first.log_text()
        first.kill()
        second = start_worker(env, workdir, "worker-survivor", concurrency=4)
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        bus = StreamBus(client)
        wait_until(lambda: not client.exists(lock_key(turn.id)), 30, "the dead worker's lock to lapse")
        wait_until(lambda: "worker-survivor@" in " ".join(live_workers(client)), 30, "the surviving worker")
        celery.send_task(HOUSEKEEPING, queue=QUEUE)

        def finished():
            row = owner_conn.execute("select status from ai.turns where id = %s", (turn.id,)).fetchone()
            return row[0] in ("done", "error", "cancelled") and row[0]

        try:
            status = wait_until(finished, 60, "the redelivered turn to finish")
        except TimeoutError:
            raise AssertionError(f"doomed:\n{first.log_text()[-3000:]}\nsurvivor:\n{second.log_text()[-4000:]}")
        assert status == "done", second.log_text()
        final = owner_conn.execute(
            "select id::text, content from ai.messages where turn_id = %s and role = 'assistant' and tool_calls is null",
            (turn.id,)).fetchall()
        assert len(final) == 1 and final[0][1] == "the one and only final answer"
        events = bus.range(conversation.id, 1)
        endings = [e for e in events if e["type"] in ("done", "error", "cancelled")]
        assert [e["type"] for e in endings] == ["done"]
        assert endings[0]["message_id"] == final[0][0]
        assert endings[0]["usage"]["total_tokens"] == 18
        attempts = owner_conn.execute("select attempts from ai.turns where id = %s", (turn.id,)).fetchone()[0]
        assert attempts == 2
        assert any(e["type"] == "progress" and "Restarting" in e["message"] for e in events)
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_redelivered_finished_turn_republishes_a_lost_ending(database, test_chatbots, owner_conn):
    services = WorkerServices(worker_runtime(database))
    try:
        with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
            bot = chatbots.load_enabled(conn, "tests", "shop")
            conversation = conversations.create_conversation(conn, chatbot_id=bot.id, user_id=ALICE,
                                                             user_role="authenticated", ttl_hours=1)
            turn = conversations.start_turn(conn, conversation.id, "q", max_turns=10)
            turns.close_turn(conn, turn, status="done", error_code=None, prompt_tokens=4,
                                     completion_tokens=2)
            conn.commit()
        execute_turn(services, turn.id)  # the worker died after the commit, before publishing
        endings = [e for e in services.bus.replay(conversation.id, None).events if e["type"] == "done"]
        assert [(e["message_id"], e["usage"]["total_tokens"]) for e in endings] == [(turn.assistant_message_id, 6)]
        execute_turn(services, turn.id)  # and never twice
        assert len([e for e in services.bus.replay(conversation.id, None).events if e["type"] == "done"]) == 1
    finally:
        services.close()


def test_a_queued_turn_whose_message_redis_lost_is_sent_again_one_waiting_for_a_worker_is_not(
        database, test_chatbots, worker, llm, owner_conn):
    from app.jobs import queued_marker
    from workers.housekeeping import run_housekeeping

    services = WorkerServices(worker_runtime(database))
    celery = make_celery(database)
    try:
        with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
            bot = chatbots.load_enabled(conn, "tests", "shop")
            lost_in = conversations.create_conversation(conn, chatbot_id=bot.id, user_id=ALICE,
                                                        user_role="authenticated", ttl_hours=1)
            waiting_in = conversations.create_conversation(conn, chatbot_id=bot.id, user_id=ALICE,
                                                           user_role="authenticated", ttl_hours=1)
            lost = conversations.start_turn(conn, lost_in.id, "was my question lost?", max_turns=10)
            waiting = conversations.start_turn(conn, waiting_in.id, "still in the queue", max_turns=10)
            # Both queued a minute ago; only `waiting` is still marked as sent (Redis lost `lost`'s message).
            conn.execute("update ai.turns set created_at = now() - interval '1 minute' where id = any(%s::uuid[])",
                         ([lost.id, waiting.id],))
            conn.commit()
        services.runtime.redis.set(queued_marker(waiting.id), "1", ex=60)
        llm.reply_text("it was not")
        assert run_housekeeping(services, celery)["requeued"] >= 1
        status = wait_until(lambda: owner_conn.execute("select status from ai.turns where id = %s",
                                                       (lost.id,)).fetchone()[0] in ("done", "error") and
                            owner_conn.execute("select status from ai.turns where id = %s", (lost.id,)).fetchone()[0],
                            30, "the lost turn to run")
        assert status == "done"
        assert services.runtime.redis.exists(queued_marker(lost.id))  # sent again, marked again
        # The one still waiting is left to its worker (it stays queued); close it so it does not linger.
        run_housekeeping(services, celery)
        assert owner_conn.execute("select status from ai.turns where id = %s", (waiting.id,)).fetchone()[0] == "queued"
        with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
            conversations.cancel_queued_turn(conn, waiting_in.id)
            conn.commit()
    finally:
        services.close()
