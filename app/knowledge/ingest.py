"""The web side of ingestion: the task and queue names, and sending a document to the workers.

The embeddings worker (workers/embeddings_main.py, the Procfile's `embeddings` process) registers
the task; see workers/ingest.py for what it does.
"""
from __future__ import annotations

from celery import Celery

from app.jobs import EMBEDDINGS_QUEUE, INGEST_DOCUMENT, REQUEUE_STUCK_DOCUMENTS

__all__ = ["EMBEDDINGS_QUEUE", "INGEST_DOCUMENT", "REQUEUE_STUCK_DOCUMENTS", "enqueue_document"]


def enqueue_document(celery: Celery, document_id: str) -> None:
    """Send after the document's row is committed (the worker reads it). A lost message is not lost
    work: the document stays pending and beat's requeue job sends it again."""
    celery.send_task(INGEST_DOCUMENT, args=[document_id], queue=EMBEDDINGS_QUEUE)
