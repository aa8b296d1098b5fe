"""The jobs worker's task: run one submitted job (workers/job_runner.py does the work)."""
from __future__ import annotations

import threading

from celery import Celery

from app.db.connect import authenticator_pool, owner_pool
from app.jobs import JOB_TIME_LIMIT_SECONDS, JOBS_QUEUE, RUN_JOB
from app.sql.executor import SqlExecutor
from config import Settings
from workers.job_runner import run_job


class _ChildResources:
    """Pools made on first use in each prefork child: a pool opened before the fork would be shared
    by every child's sockets."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._lock = threading.Lock()
        self._made: tuple | None = None

    def get(self):
        with self._lock:
            if self._made is None:
                settings = self._settings
                db = owner_pool(settings, "jobs", max_size=2)
                users = authenticator_pool(settings)
                sql = SqlExecutor(users, statement_timeout_ms=settings.sql_statement_timeout_ms,
                                  max_rows=settings.sql_max_rows, max_bytes=settings.sql_max_bytes,
                                  acquire_timeout_s=settings.db_acquire_timeout_seconds)
                self._made = (db, sql)
            return self._made


def register_job_tasks(celery: Celery, settings: Settings) -> None:
    resources = _ChildResources(settings)

    # acks_late: a job whose worker died is redelivered, and its stale claim taken over.
    @celery.task(name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, queue=JOBS_QUEUE,
                 time_limit=JOB_TIME_LIMIT_SECONDS, soft_time_limit=JOB_TIME_LIMIT_SECONDS - 10)
    def run(job_id: str) -> str | None:
        db, sql = resources.get()
        return run_job(db, sql, job_id)
