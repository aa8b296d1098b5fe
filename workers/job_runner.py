"""Running one submitted job: claim it, call its entry point as the submitting user, persist the outcome.

Kept out of the Celery task (workers/job_tasks.py) so it can be tested without a broker. A job
runs at most once at a time: the claim is an update on its row (app/execution/job_records.py).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from psycopg_pool import ConnectionPool

from app.execution.job_context import JobContext, JobFailed
from app.execution.job_records import claim_job, finish_job
from app.jobs import JOB_TIME_LIMIT_SECONDS
from app.jobs_registry import JOBS, JobEntry, UnknownJob, find_job, load_entry_point
from app.sql.executor import QueryFailed, SqlExecutor
from app.sql.results import json_safe
from app.text import storable, storable_json

log = logging.getLogger(__name__)

__all__ = ["MAX_ERROR_CHARS", "MAX_RESULT_BYTES", "run_job"]

MAX_RESULT_BYTES = 64 * 1024
MAX_ERROR_CHARS = 2000


def run_job(db: ConnectionPool, sql: SqlExecutor, job_id: str, jobs: Mapping[str, JobEntry] = JOBS) -> str | None:
    """The job's final status, or None when there was nothing to run (finished, or running elsewhere)."""
    with db.connection() as conn:
        job = claim_job(conn, job_id, stale_seconds=JOB_TIME_LIMIT_SECONDS + 60)
    if job is None:
        log.info("job %s: not pending (already run, or running elsewhere); skipped", job_id)
        return None
    succeeded, result, error = _call(job, sql, jobs)
    with db.connection() as conn:
        finish_job(conn, job.id, succeeded=succeeded, result=result, error=error)
    log.info("job %s (%s) %s", job.id, job.job_name, "succeeded" if succeeded else "failed")
    return "succeeded" if succeeded else "failed"


def _call(job, sql: SqlExecutor, jobs: Mapping[str, JobEntry]) -> tuple[bool, object, str | None]:
    try:
        entry = find_job(job.job_name, job.namespace, jobs)
        function = load_entry_point(entry)
    except UnknownJob:
        return False, None, f"the job {job.job_name!r} is no longer registered on this server"
    except Exception:
        log.exception("job %s: entry point of %s could not be loaded", job.id, job.job_name)
        return False, None, "the job could not be started (its entry point failed to load)"
    ctx = JobContext(job_id=job.id, job_name=job.job_name, namespace=job.namespace, user_id=job.user_id,
                     role=job.user_role, claims=job.claims, payload=job.payload, _sql=sql)
    try:
        value = storable_json(json_safe(function(ctx)))
    except JobFailed as exc:
        return False, None, storable(str(exc))[:MAX_ERROR_CHARS] or "the job failed"
    except QueryFailed as exc:
        return False, None, storable(exc.reason)[:MAX_ERROR_CHARS]
    except Exception:
        # Its text may quote anything the job touched: the log has it, the user reads a fixed line.
        log.exception("job %s (%s) raised", job.id, job.job_name)
        return False, None, "the job failed unexpectedly"
    encoded = json.dumps(value, ensure_ascii=False)
    if len(encoded.encode("utf-8")) > MAX_RESULT_BYTES:
        return False, None, f"the job's result is larger than {MAX_RESULT_BYTES // 1024} KiB; it was not kept"
    return True, value, None
