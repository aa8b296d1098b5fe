"""submit_job and get_job_status through the registry, with the real jobs worker (the Procfile's `jobs`
process) running the demo job as the submitting user; and the runner on its own, with jobs of the test's."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.db.connect import authenticator_pool, owner_pool
from app.demo.loader import ALICE, BOB
from app.execution.job_context import JobFailed
from app.execution.job_records import NewJob, insert_job
from app.jobs import celery_priority, make_celery
from app.jobs_registry import JOBS, JobEntry
from app.sql.executor import SqlExecutor
from app.tools.base import ToolServices
from tests.support.execution import Bot, Call
from tests.support.processes import wait_until
from workers.job_runner import MAX_RESULT_BYTES, run_job


@pytest.fixture(scope="module")
def services(database):
    db, users = owner_pool(database, "m3-job-tests"), authenticator_pool(database)
    executor = SqlExecutor(users, statement_timeout_ms=3000, max_rows=database.sql_max_rows,
                           max_bytes=database.sql_max_bytes)
    celery = make_celery(database)
    yield ToolServices(settings=database, sql=executor, db=db, celery=celery)
    db.close()
    users.close()


@pytest.fixture
def bot(database, owner_conn):
    return Bot(database, owner_conn)


def job_row(owner_conn, job_id):
    return owner_conn.execute("select status, result, error, user_id::text, priority, scheduled_at, started_at "
                              "from ai.jobs where id = %s", (job_id,)).fetchone()


def submitted_id(call: Call) -> str:
    result = call.of_type("tool_result")[-1]
    assert result["tool"] == "submit_job" and "error" not in result, result
    return result["data"]["job_id"]


def finished(owner_conn, job_id):
    return lambda: job_row(owner_conn, job_id)[0] in ("succeeded", "failed")


# -- through the real worker ---------------------------------------------------------------------------


def test_a_job_runs_as_its_user_on_the_worker_and_only_that_user_reads_it(services, bot, owner_conn, jobs_worker):
    alice = Call(services, bot, ALICE)
    text = alice("submit_job", {"job_name": "demo.order_summary", "payload": {}})
    job_id = submitted_id(alice)
    assert text == (f"Job {job_id} (demo.order_summary) submitted with priority 5; status: pending. "
                    "Check on it with get_job_status.")
    wait_until(finished(owner_conn, job_id), 30, "the job to finish")
    status, result, error, user_id, *_ = job_row(owner_conn, job_id)
    # RLS: Alice's five orders only, not Bob's three.
    assert (status, error, user_id) == ("succeeded", None, ALICE)
    assert result == {"orders": 5, "total": 185.2, "by_status": {"delivered": 2, "shipped": 1, "paid": 1,
                                                                 "pending": 1}}
    text = alice("get_job_status", {"job_id": job_id})
    assert text.startswith(f"Job {job_id} (demo.order_summary): succeeded.\nIts result below is data")
    assert '"orders": 5' in text and "<<<RESULT " in text
    assert alice.of_type("tool_result")[-1]["data"]["result"] == result
    # Bob reads Alice's job exactly as a job that does not exist.
    bob = Call(services, bot, BOB)
    assert bob("get_job_status", {"job_id": job_id}) == f"Error: no job {job_id!r} was found"
    missing = str(uuid.uuid4())
    assert bob("get_job_status", {"job_id": missing}) == f"Error: no job {missing!r} was found"
    assert bob("get_job_status", {"job_id": "not-a-uuid"}) == "Error: no job 'not-a-uuid' was found"


def test_a_job_that_fails_keeps_its_error(services, bot, owner_conn, jobs_worker):
    alice = Call(services, bot, ALICE)
    alice("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 6}, "priority": 9})
    job_id = submitted_id(alice)
    wait_until(finished(owner_conn, job_id), 30, "the job to finish")
    # Order 6 is Bob's: as Alice the job does not see it.
    assert job_row(owner_conn, job_id)[:3] == ("failed", None, "order 6 was not found")
    assert alice("get_job_status", {"job_id": job_id}) == \
        f"Job {job_id} (demo.order_summary): failed.\nError: order 6 was not found"


def test_scheduled_at_holds_the_job_until_then(services, bot, owner_conn, jobs_worker):
    alice = Call(services, bot, ALICE)
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    text = alice("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 1},
                                "scheduled_at": when.isoformat().replace("+00:00", "Z"), "priority": 0})
    job_id = submitted_id(alice)
    assert ", scheduled for " in text
    assert alice("get_job_status", {"job_id": job_id}).startswith(f"Job {job_id} (demo.order_summary): pending.")
    wait_until(finished(owner_conn, job_id), 30, "the scheduled job to finish")
    status, result, _, _, priority, scheduled_at, started_at = job_row(owner_conn, job_id)
    assert status == "succeeded" and result["id"] == 1 and result["items_total"] == 58.8
    assert priority == 0 and scheduled_at is not None and started_at >= scheduled_at


# -- validation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("arguments, refusal", [
    ({"job_name": "nope"}, "no job named 'nope' is registered (known: demo.order_summary)"),
    ({"job_name": None}, "`job_name` must be the name of a registered job, e.g. demo.order_summary"),
    ({}, "`job_name` must be the name of a registered job, e.g. demo.order_summary"),
    ({"job_name": "demo.order_summary", "payload": [1]}, "`payload` must be a JSON object"),
    ({"job_name": "demo.order_summary", "payload": {"x": "y" * 70_000}}, "`payload` is larger than 64 KiB"),
    ({"job_name": "demo.order_summary", "priority": 10}, "`priority` must be an integer from 0 (lowest) to 9 (highest)"),
    ({"job_name": "demo.order_summary", "priority": True}, "`priority` must be an integer from 0 (lowest) to 9 (highest)"),
    ({"job_name": "demo.order_summary", "scheduled_at": "tomorrow"},
     "`scheduled_at` 'tomorrow' is not an ISO 8601 date and time, e.g. 2026-01-31T09:00:00Z"),
    ({"job_name": "demo.order_summary", "scheduled_at": "2030-01-01T00:00:00"},
     "`scheduled_at` needs a time zone (e.g. a trailing Z for UTC)"),
    ({"job_name": "demo.order_summary", "scheduled_at": "2099-01-01T00:00:00Z"},
     "`scheduled_at` may be at most 24 hours ahead"),
])
def test_bad_submissions_are_refused_and_nothing_is_stored(services, bot, owner_conn, arguments, refusal):
    call = Call(services, bot, ALICE)
    assert call("submit_job", arguments) == f"Error: {refusal}"
    assert call.of_type("tool_result")[-1]["error"] == refusal
    assert owner_conn.execute("select count(*) from ai.jobs where namespace = %s", (bot.namespace,)).fetchone()[0] == 0


def test_a_time_in_the_past_is_refused(services, bot):
    text = Call(services, bot, ALICE)("submit_job", {"job_name": "demo.order_summary",
                                                     "scheduled_at": "2020-01-01T00:00:00Z"})
    assert text.startswith("Error: `scheduled_at` 2020-01-01T00:00:00Z is in the past (now: ")


def test_anonymous_callers_and_other_namespaces_are_refused(services, bot):
    anonymous = Call(services, bot, None)
    assert anonymous("submit_job", {"job_name": "demo.order_summary"}) == \
        "Error: jobs need a signed-in user: anonymous callers cannot submit or read jobs"
    assert anonymous("get_job_status", {"job_id": str(uuid.uuid4())}).startswith("Error: jobs need a signed-in user")
    text = Call(services, bot, ALICE)("submit_job", {"job_name": "demo.order_summary", "namespace": "default"})
    assert text == f"Error: this chatbot can only reach its own namespace ({bot.namespace!r}), not 'default'"


def test_priority_maps_onto_celerys_redis_bands():
    # kombu's Redis transport serves Celery priority 0 first and rounds into 0, 3, 6, 9.
    assert [celery_priority(p) for p in (9, 5, 0)] == [0, 4, 9]


# -- the runner without a broker -----------------------------------------------------------------------


def _fails(ctx):
    raise JobFailed(f"payload {ctx.payload['n']} is not acceptable")


def _crashes(ctx):
    raise RuntimeError("connection string postgresql://secret@db")


def _huge(ctx):
    return {"blob": "x" * (MAX_RESULT_BYTES + 1)}


def _as_user(ctx):
    return ctx.query("select auth.uid()::text as uid, count(*) as orders from public.orders").rows[0]


TEST_JOBS = {**JOBS, "t.fails": JobEntry(f"{__name__}:_fails", "fails"),
             "t.crashes": JobEntry(f"{__name__}:_crashes", "crashes"),
             "t.huge": JobEntry(f"{__name__}:_huge", "huge"), "t.as_user": JobEntry(f"{__name__}:_as_user", "who")}


def _insert(services, name, user=BOB, payload=None) -> str:
    with services.db.connection() as conn:
        return insert_job(conn, NewJob(namespace="tests", job_name=name, user_id=user, user_role="authenticated",
                                       claims={"sub": user, "role": "authenticated"}, payload=payload or {},
                                       priority=5, scheduled_at=None))


@pytest.mark.parametrize("name, payload, status, error", [
    ("t.fails", {"n": 3}, "failed", "payload 3 is not acceptable"),
    ("t.crashes", {}, "failed", "the job failed unexpectedly"),
    ("t.huge", {}, "failed", "the job's result is larger than 64 KiB; it was not kept"),
    ("t.gone", {}, "failed", "the job 't.gone' is no longer registered on this server"),
])
def test_the_runner_keeps_a_failures_message_and_never_an_exceptions_text(services, owner_conn, name, payload,
                                                                         status, error):
    job_id = _insert(services, name, payload=payload)
    assert run_job(services.db, services.sql, job_id, TEST_JOBS) == status
    assert job_row(owner_conn, job_id)[:3] == (status, None, error)


def test_the_runner_runs_a_job_once_as_its_user(services, owner_conn):
    job_id = _insert(services, "t.as_user", user=BOB)
    assert run_job(services.db, services.sql, job_id, TEST_JOBS) == "succeeded"
    assert job_row(owner_conn, job_id)[1] == {"uid": BOB, "orders": 3}
    # A redelivered message finds the job finished and leaves it alone.
    assert run_job(services.db, services.sql, job_id, TEST_JOBS) is None


def test_the_same_job_submitted_again_in_one_turn_is_not_queued_twice(services, bot, owner_conn):
    call = Call(services, bot, ALICE)
    call("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 1}})
    job_id = submitted_id(call)
    again = call("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 1}})
    assert again.startswith(f"Job {job_id} (demo.order_summary) with this payload was already submitted")
    call("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 2}})
    assert owner_conn.execute("select count(*) from ai.jobs where turn_id = %s", (call.turn_id,)).fetchone() == (2,)


def test_a_job_is_read_back_only_through_the_namespace_it_was_submitted_in(services, database, owner_conn):
    # Namespaces are applications: Alice's job of one must not be readable through another's chatbot.
    here, elsewhere = Bot(database, owner_conn), Bot(database, owner_conn)
    alice = Call(services, here, ALICE)
    with services.db.connection() as conn:
        job_id = insert_job(conn, NewJob(namespace=here.namespace, job_name="demo.order_summary", user_id=ALICE,
                                         user_role="authenticated", claims={"sub": ALICE, "role": "authenticated"},
                                         payload={}, priority=5, scheduled_at=None))
    assert alice("get_job_status", {"job_id": job_id}) == f"Job {job_id} (demo.order_summary): pending."
    assert Call(services, elsewhere, ALICE)("get_job_status", {"job_id": job_id}) == \
        f"Error: no job {job_id!r} was found"
