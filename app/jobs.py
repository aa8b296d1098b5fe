"""Background jobs as both sides see them: the Celery application's configuration, task names and the queue.

The web process only sends tasks by name; the worker registers the functions behind the names
(workers/tasks.py). Living on the app side keeps every arrow pointing from workers/ to app/.
"""
from __future__ import annotations

import redis
from celery import Celery

from config import Settings

RUN_TURN = "fluxbase.run_turn"
HOUSEKEEPING = "fluxbase.housekeeping"
EXPIRE_CONVERSATIONS = "fluxbase.expire_conversations"
QUEUE = "fluxbase"
# Document ingestion runs on its own queue, served by the prefork `embeddings` process
# (workers/embeddings_main.py): embedding is CPU-bound and would starve the gevent turn worker.
INGEST_DOCUMENT = "fluxbase.ingest_document"
REQUEUE_STUCK_DOCUMENTS = "fluxbase.requeue_stuck_documents"
EMBEDDINGS_QUEUE = "embeddings"
# Jobs users submit (submit_job; the registry is app/jobs_registry.py) run on their own queue, served
# by the prefork `jobs` process (workers/jobs_main.py): an application's job is any Python code,
# and under the gevent turn worker one CPU-bound or blocking job would stall every turn of it.
RUN_JOB = "fluxbase.run_job"
JOBS_QUEUE = "jobs"
# Longest a job may run (Celery's hard limit kills it; its claim is then stale and may be retaken).
JOB_TIME_LIMIT_SECONDS = 300
# Beat's period for re-queueing documents left pending or in processing by a lost worker or message.
REQUEUE_DOCUMENTS_SECONDS = 60.0
# Beat's period for housekeeping (abandoned turns, lost endings).
HOUSEKEEPING_SECONDS = 15.0
# Beat's period for deleting expired conversations (workers/expiry.py); they read as absent from
# the moment they expire, this only frees their storage.
EXPIRY_SECONDS = 30.0


def make_celery(settings: Settings) -> Celery:
    """The Celery application (Flask's Celery pattern, built from Settings, never at import time)."""
    celery = Celery("fluxbase", set_as_current=False)
    celery.conf.update(
        broker_url=settings.redis_url,
        broker_connection_retry_on_startup=True,
        # A turn killed with its worker must run again, once: ack only after it finished,
        # and never hold more than one turn per greenlet slot in reserve.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # kombu puts a dead worker's unacknowledged turns back when a worker starts (once they are
        # older than the visibility timeout); beat's housekeeping re-enqueues them without waiting
        # for a restart (workers/housekeeping.py).
        # kombu's own Redis pool (10 by default) is where every greenlet acknowledges its task:
        # after Redis came back, acks of many turns finishing at once failed on it.
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout,
                                  "max_connections": settings.worker_concurrency + 16},
        # Sending a turn while Redis is down must fail within seconds (the socket then gets
        # SERVICE_UNAVAILABLE), not hang on kombu's default retry policy.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                                   "interval_max": 1.0},
        broker_connection_timeout=3,
        task_ignore_result=True,
        result_backend=None,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Liveness is a heartbeat key (app/worker_presence.py), so the broadcast control channel
        # would only cost a Redis connection per worker and a slower shutdown.
        worker_enable_remote_control=False,
        timezone="UTC",
        beat_schedule={
            "housekeeping": {"task": HOUSEKEEPING, "schedule": HOUSEKEEPING_SECONDS},
            "expire-conversations": {"task": EXPIRE_CONVERSATIONS, "schedule": EXPIRY_SECONDS},
            "requeue-stuck-documents": {"task": REQUEUE_STUCK_DOCUMENTS, "schedule": REQUEUE_DOCUMENTS_SECONDS,
                                        "options": {"queue": EMBEDDINGS_QUEUE}},
        },
        # A turn may also wait up to APPROVAL_TIMEOUT_SECONDS for the user (docs/approval.md).
        task_time_limit=settings.turn_timeout_seconds + settings.approval_timeout_seconds + 60,
    )
    return celery


def queued_marker(turn_id: str) -> str:
    return f"fluxbase:turn:{turn_id}:queued"


def enqueue_turn(celery: Celery, client: redis.Redis, turn_id: str, marker_ttl: int) -> None:
    """Send the turn to the workers, and mark it sent. The queue lives in Redis: if Redis loses its
    data, queued turns vanish with it, and housekeeping tells them by their missing mark."""
    celery.send_task(RUN_TURN, args=[turn_id], queue=QUEUE)
    try:
        client.set(queued_marker(turn_id), "1", ex=marker_ttl)
    except redis.RedisError:
        pass  # housekeeping may send it once more, which is harmless


def celery_priority(priority: int) -> int:
    """submit_job's priority (0-9, higher runs sooner) as Celery's on Redis, where 0 is served first.

    kombu's Redis transport keeps four lists per queue (Celery priorities 0, 3, 6, 9) and rounds
    down into them, so 9-7, 6-4, 3-1 and 0 are the four bands that actually differ.
    """
    return 9 - max(0, min(9, priority))


def enqueue_job(celery: Celery, job_id: str, *, priority: int, eta=None) -> None:
    """Send a job (already inserted as pending) to the jobs worker, to run at `eta` (None: now)."""
    celery.send_task(RUN_JOB, args=[job_id], queue=JOBS_QUEUE, priority=celery_priority(priority), eta=eta)
