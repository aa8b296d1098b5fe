"""SQL for ai.jobs: a job is inserted pending, claimed by one worker, and finished once."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

__all__ = ["Job", "NewJob", "claim_job", "fail_pending", "finish_job", "insert_job", "job_for_user", "job_of_turn"]

STATUSES = ("pending", "running", "succeeded", "failed")

_COLUMNS = """id, namespace, job_name, user_id, user_role, claims, payload, priority, scheduled_at, status, result,
              error, attempts, created_at, started_at, finished_at"""

INSERT = """
insert into ai.jobs (id, namespace, job_name, user_id, user_role, claims, chatbot_id, conversation_id, turn_id,
                     payload, priority, scheduled_at)
values (%(id)s, %(namespace)s, %(job_name)s, %(user_id)s, %(user_role)s, %(claims)s, %(chatbot_id)s,
        %(conversation_id)s, %(turn_id)s, %(payload)s, %(priority)s, %(scheduled_at)s)
"""

SAME_IN_TURN = """
select id from ai.jobs
 where turn_id = %(turn_id)s and user_id = %(user_id)s and job_name = %(job_name)s and payload = %(payload)s
 order by created_at limit 1
"""

# A redelivered message finds its job claimed: it runs it again only when the claim is older than
# the longest a job may run (its worker died with it), never beside a live run.
CLAIM = f"""
update ai.jobs set status = 'running', started_at = now(), attempts = attempts + 1
 where id = %(id)s
   and (status = 'pending' or (status = 'running' and started_at < now() - make_interval(secs => %(stale)s)))
returning {_COLUMNS}
"""

FINISH = """
update ai.jobs set status = %(status)s, result = %(result)s, error = %(error)s, finished_at = now()
 where id = %(id)s and status = 'running'
"""

FAIL_PENDING = """
update ai.jobs set status = 'failed', error = %(error)s, finished_at = now() where id = %(id)s and status = 'pending'
"""

FOR_USER = (f"select {_COLUMNS} from ai.jobs "
            "where id = %(id)s and user_id = %(user_id)s and namespace = %(namespace)s")


@dataclass(frozen=True)
class NewJob:
    namespace: str
    job_name: str
    user_id: str
    user_role: str
    claims: dict
    payload: dict
    priority: int
    scheduled_at: datetime | None
    chatbot_id: str | None = None
    conversation_id: str | None = None
    turn_id: str | None = None


@dataclass(frozen=True)
class Job:
    id: str
    namespace: str
    job_name: str
    user_id: str
    user_role: str
    claims: dict
    payload: dict
    priority: int
    scheduled_at: datetime | None
    status: str
    result: Any
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def insert_job(conn: Connection, job: NewJob) -> str:
    job_id = str(uuid.uuid4())
    conn.execute(INSERT, {"id": job_id, "namespace": job.namespace, "job_name": job.job_name, "user_id": job.user_id,
                          "user_role": job.user_role, "claims": Jsonb(job.claims), "chatbot_id": job.chatbot_id,
                          "conversation_id": job.conversation_id, "turn_id": job.turn_id,
                          "payload": Jsonb(job.payload), "priority": job.priority, "scheduled_at": job.scheduled_at})
    return job_id


def job_of_turn(conn: Connection, job: NewJob) -> str | None:
    """The id of the same job (name and payload) this turn already submitted, if it did."""
    if job.turn_id is None:
        return None
    row = conn.execute(SAME_IN_TURN, {"turn_id": job.turn_id, "user_id": job.user_id, "job_name": job.job_name,
                                      "payload": Jsonb(job.payload)}).fetchone()
    if row is None:
        return None
    return str(row["id"] if isinstance(row, dict) else row[0])


def claim_job(conn: Connection, job_id: str, stale_seconds: float) -> Job | None:
    """The job, now running and claimed by the caller; None if it is not there to run."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(CLAIM, {"id": job_id, "stale": stale_seconds}).fetchone()
    return _job(row) if row else None


def finish_job(conn: Connection, job_id: str, *, succeeded: bool, result: Any = None, error: str | None = None) -> bool:
    cur = conn.execute(FINISH, {"id": job_id, "status": "succeeded" if succeeded else "failed",
                                "result": None if result is None else Jsonb(result), "error": error})
    return cur.rowcount == 1


def fail_pending(conn: Connection, job_id: str, error: str) -> None:
    """A job that never reached the queue: failed, so nobody waits on it."""
    conn.execute(FAIL_PENDING, {"id": job_id, "error": error})


def job_for_user(conn: Connection, job_id: str, user_id: str, namespace: str) -> Job | None:
    """The job if this user submitted it in this namespace; another user's job, another namespace's
    (another application's) and a missing one read the same: None."""
    try:
        uuid.UUID(job_id)
    except (ValueError, TypeError, AttributeError):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(FOR_USER, {"id": job_id, "user_id": user_id, "namespace": namespace}).fetchone()
    return _job(row) if row else None


def _job(row: dict) -> Job:
    return Job(**{**row, "id": str(row["id"]), "user_id": str(row["user_id"])})
