"""The embeddings worker's tasks: ingest a document (retried with backoff), re-queue stuck documents."""
from __future__ import annotations

import logging
import threading

from celery import Celery

from app.db.connect import owner_pool
from app.jobs import EMBEDDINGS_QUEUE, INGEST_DOCUMENT, REQUEUE_STUCK_DOCUMENTS
from app.knowledge.embedders import embedder_for
from app.knowledge.ingest import enqueue_document
from config import Settings
from workers.ingest import (
    TASK_TIME_LIMIT_SECONDS,
    RetryLater,
    fail_document,
    ingest_document,
    requeue_stuck,
)

log = logging.getLogger(__name__)

MAX_RETRIES = 5
# Backoff between tries of a document whose provider failed: 10 s, 20 s, 40 s... up to 10 minutes.
RETRY_BASE_SECONDS = 10
RETRY_MAX_SECONDS = 600


def retry_delay(retries: int, retry_after: float | None = None) -> float:
    return max(retry_after or 0.0, min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** retries))


def register_ingest_tasks(celery: Celery, settings: Settings) -> None:
    # One small pool per prefork child, made on first use: a pool opened before the fork would be
    # shared by every child's sockets.
    pools: list = []
    lock = threading.Lock()

    def pool():
        with lock:
            if not pools:
                pools.append(owner_pool(settings, "embeddings", max_size=2))
            return pools[0]

    def resolve(conn, kb):
        return embedder_for(conn, settings, kb)

    @celery.task(name=INGEST_DOCUMENT, bind=True, acks_late=True, reject_on_worker_lost=True,
                 max_retries=MAX_RETRIES, time_limit=TASK_TIME_LIMIT_SECONDS, queue=EMBEDDINGS_QUEUE)
    def ingest(self, document_id: str) -> str:
        # A redelivered message lost its worker (SIGKILL, OOM); a retry may have left its claim
        # behind when the database went away: either way a `processing` claim on it is dead.
        take_over = bool(self.request.delivery_info and self.request.delivery_info.get("redelivered")) \
            or self.request.retries > 0
        with pool().connection() as conn:
            try:
                return ingest_document(conn, document_id, resolve, take_over=take_over).status
            except RetryLater as exc:
                if self.request.retries >= MAX_RETRIES:
                    return fail_document(conn, document_id, f"gave up after {MAX_RETRIES + 1} tries: {exc}").status
                cause = exc.__cause__
                delay = retry_delay(self.request.retries, getattr(cause, "retry_after", None))
                log.warning("document %s: %s; retrying in %.0f s", document_id, exc, delay)
                raise self.retry(countdown=delay, exc=exc) from None

    @celery.task(name=REQUEUE_STUCK_DOCUMENTS, queue=EMBEDDINGS_QUEUE)
    def requeue() -> int:
        with pool().connection() as conn:
            ids = requeue_stuck(conn)
        for document_id in ids:
            enqueue_document(celery, document_id)
        if ids:
            log.info("re-queued %d documents", len(ids))
        return len(ids)
