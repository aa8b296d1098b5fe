"""Ingesting one document: claim it, chunk, embed in batches, replace its chunks in one transaction.

Idempotent on redelivery: only a `pending` document can be claimed (one atomic UPDATE), so a
second delivery of the same message, or a message for a document already indexed, does nothing.
A worker that dies mid-document leaves it `processing`; `requeue_stuck` (beat) puts it back to
`pending` after STUCK_AFTER_SECONDS and sends it again, and the finishing transaction checks the
claim is still its own, so a late first worker cannot write next to the second.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import psycopg
from psycopg.rows import dict_row

from app.knowledge import repository as repo
from app.knowledge.chunking import ChunkingError, chunk_text
from app.knowledge.embedders import Embedder, EmbeddingError
from app.knowledge.records import KnowledgeBase
from app.providers.base import NoProviderConfigured, ProviderAuthError

log = logging.getLogger(__name__)

# A document in `processing` for longer than this is taken as abandoned by a dead worker. The
# task's own time limit is below it, so a live worker is never overtaken.
STUCK_AFTER_SECONDS = 900
TASK_TIME_LIMIT_SECONDS = STUCK_AFTER_SECONDS - 60
# A document sent this long ago and still pending lost its message (Redis restarted): sent again.
PENDING_RESEND_SECONDS = 300
# A document whose worker died this many times is failed, not retried forever (it may be what kills it).
MAX_ATTEMPTS = 3
# Chunk texts embedded per call: bounds the memory of a long document's vectors in flight.
EMBED_BATCH = 256

# `take_over`: the message was redelivered because its worker died (or this task is retrying after
# the database went away), so a `processing` claim is a dead one; taking it over at once spares the
# document the STUCK_AFTER_SECONDS wait. A live holder, if any, finds its claim gone and writes nothing.
CLAIM = """
UPDATE ai.documents SET status = 'processing', processing_started_at = clock_timestamp(), error = NULL,
       attempts = attempts + 1, updated_at = now()
 WHERE id = %(id)s AND (status = 'pending'
       OR (%(take_over)s AND status = 'processing' AND attempts < %(max_attempts)s))
RETURNING id::text AS id, kb_id::text AS kb_id, content, source, owner_id::text AS owner_id, processing_started_at"""
STILL_MINE = """SELECT 1 FROM ai.documents WHERE id = %(id)s AND status = 'processing'
 AND processing_started_at = %(claimed)s FOR UPDATE"""
MARK_INDEXED = """UPDATE ai.documents SET status = 'indexed', chunk_count = %(chunks)s, error = NULL,
       indexed_at = now(), processing_started_at = NULL, updated_at = now() WHERE id = %(id)s"""
MARK_FAILED = """UPDATE ai.documents SET status = 'failed', error = %(error)s, processing_started_at = NULL,
       updated_at = now() WHERE id = %(id)s AND status IN ('pending', 'processing')"""
RELEASE = """UPDATE ai.documents SET status = 'pending', processing_started_at = NULL, updated_at = now()
 WHERE id = %(id)s AND status = 'processing' AND processing_started_at = %(claimed)s"""
FAIL_WORN_OUT_ONE = """
UPDATE ai.documents SET status = 'failed', processing_started_at = NULL, updated_at = now(),
       error = 'the embeddings worker stopped while processing it ' || attempts || ' times'
 WHERE id = %(id)s AND status = 'processing' AND attempts >= %(max_attempts)s"""
FAIL_WORN_OUT = """
UPDATE ai.documents SET status = 'failed', processing_started_at = NULL, updated_at = now(),
       error = 'the embeddings worker stopped while processing it ' || attempts || ' times'
 WHERE status = 'processing' AND processing_started_at < now() - make_interval(secs => %(stuck)s)
   AND attempts >= %(max_attempts)s
RETURNING id::text AS id"""
REQUEUE = """
UPDATE ai.documents SET status = 'pending', processing_started_at = NULL, updated_at = now()
 WHERE (status = 'processing' AND processing_started_at < now() - make_interval(secs => %(stuck)s))
    OR (status = 'pending' AND updated_at < now() - make_interval(secs => %(resend)s))
RETURNING id::text AS id"""


@dataclass(frozen=True)
class Outcome:
    status: str          # indexed, failed, skipped (not pending) or superseded (claim lost)
    chunks: int = 0
    error: str | None = None


class RetryLater(Exception):
    """A provider or database error worth trying again; the document is back to pending."""


EmbedderFor = Callable[[psycopg.Connection, KnowledgeBase], Embedder]


def ingest_document(conn: psycopg.Connection, document_id: str, embedder_for: EmbedderFor, *,
                    take_over: bool = False) -> Outcome:
    """Runs one document to `indexed` or `failed`. `conn` is autocommit-off; every step commits."""
    claimed = conn.cursor(row_factory=dict_row).execute(
        CLAIM, {"id": document_id, "take_over": take_over, "max_attempts": MAX_ATTEMPTS}).fetchone()
    conn.commit()
    if claimed is None:
        worn_out = take_over and conn.execute(FAIL_WORN_OUT_ONE, {"id": document_id,
                                                                   "max_attempts": MAX_ATTEMPTS}).rowcount
        conn.commit()
        if worn_out:
            log.warning("document %s failed: its worker died %d times", document_id, MAX_ATTEMPTS)
            return Outcome("failed", error="the embeddings worker stopped while processing it")
        return Outcome("skipped")
    kb = repo.get_kb(conn, claimed["kb_id"])
    conn.commit()
    if kb is None:
        return Outcome("skipped")  # the base was deleted meanwhile, its documents with it
    try:
        chunks = chunk_text(claimed["content"], strategy=kb.chunking, size=kb.chunk_size,
                            overlap=kb.chunk_overlap, source=claimed["source"])
        embedder = embedder_for(conn, kb)
        conn.commit()
        texts = [c.text for c in chunks]
        vectors = [embedder.embed(texts[i:i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)]
    except (ChunkingError, EmbeddingError, NoProviderConfigured, ProviderAuthError) as exc:
        # Trying again would fail the same way until someone acts: failed now, with the reason.
        conn.rollback()
        return _fail(conn, document_id, str(exc))
    except Exception as exc:
        _release_quietly(conn, document_id, claimed["processing_started_at"])
        raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
    embeddings = [row for batch in vectors for row in batch]
    try:
        with conn.transaction():
            if conn.execute(STILL_MINE, {"id": document_id,
                                         "claimed": claimed["processing_started_at"]}).fetchone() is None:
                return Outcome("superseded")
            repo.delete_chunks(conn, document_id)
            count = repo.copy_chunks(conn, kb, document_id, claimed["owner_id"],
                                     ((c.position, c.text, c.token_count, e) for c, e in zip(chunks, embeddings)))
            conn.execute(MARK_INDEXED, {"id": document_id, "chunks": count})
        conn.commit()
    except psycopg.OperationalError as exc:
        # The database went away mid-write: nothing was written; the retry takes the claim over.
        _release_quietly(conn, document_id, claimed["processing_started_at"])
        raise RetryLater(f"{type(exc).__name__}: {exc}") from exc
    except psycopg.Error as exc:
        # A refused row (a vector that does not fit the base) would be refused again: failed, saying why.
        conn.rollback()
        return _fail(conn, document_id, f"the chunks could not be written: {str(exc).splitlines()[0]}")
    return Outcome("indexed", count)


def _fail(conn: psycopg.Connection, document_id: str, reason: str) -> Outcome:
    conn.execute(MARK_FAILED, {"id": document_id, "error": reason[:1000]})
    conn.commit()
    log.warning("document %s failed: %s", document_id, reason)
    return Outcome("failed", error=reason)


def fail_document(conn: psycopg.Connection, document_id: str, reason: str) -> Outcome:
    """After the last retry: the document is failed with the provider's reason."""
    return _fail(conn, document_id, reason)


def _release(conn: psycopg.Connection, document_id: str, claimed: datetime) -> None:
    conn.execute(RELEASE, {"id": document_id, "claimed": claimed})
    conn.commit()


def _release_quietly(conn: psycopg.Connection, document_id: str, claimed: datetime) -> None:
    try:
        conn.rollback()
        _release(conn, document_id, claimed)
    except psycopg.Error:
        pass  # still unreachable: the retry (take_over) or beat's requeue job picks the document up


def requeue_stuck(conn: psycopg.Connection, *, stuck_after: float = STUCK_AFTER_SECONDS,
                  resend_after: float = PENDING_RESEND_SECONDS) -> list[str]:
    """Documents to send again: abandoned in processing, or pending with a lost message. Those whose
    worker died MAX_ATTEMPTS times are failed instead. The caller sends the returned ids."""
    with conn.transaction():
        worn = conn.cursor(row_factory=dict_row).execute(
            FAIL_WORN_OUT, {"stuck": stuck_after, "max_attempts": MAX_ATTEMPTS}).fetchall()
        rows = conn.cursor(row_factory=dict_row).execute(
            REQUEUE, {"stuck": stuck_after, "resend": resend_after}).fetchall()
    conn.commit()
    for row in worn:
        log.warning("document %s failed: its worker died %d times", row["id"], MAX_ATTEMPTS)
    return [row["id"] for row in rows]
