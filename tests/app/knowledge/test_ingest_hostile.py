"""Ingestion when things break under it: a worker SIGKILLed mid-document, the database going away
while the chunks are written, vectors the database refuses. Each ends with the document indexed
exactly once or failed with a reason, never left `processing` for the 15 minutes of beat's requeue."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import psycopg
import pytest

from app.jobs import make_celery
from app.knowledge import repository as repo
from app.knowledge.ingest import enqueue_document
from app.services.redis_server import EmbeddedRedis
from config import Settings
from tests.app.knowledge.conftest import HashingEmbedder, new_kb
from tests.app.knowledge.test_ingest import _base_and_doc, _chunks, _status
from tests.support.processes import free_port, start_embeddings_worker, wait_until
from workers import ingest


def _claim(conn, doc_id):
    """What a worker does before it dies: the document is `processing` under a claim nobody holds."""
    claimed = conn.execute(ingest.CLAIM, {"id": doc_id, "take_over": False,
                                          "max_attempts": ingest.MAX_ATTEMPTS}).fetchone()
    conn.commit()
    assert claimed is not None


def test_a_redelivered_message_takes_a_dead_claim_over_and_indexes_once(conn):
    _, doc = _base_and_doc(conn)
    _claim(conn, doc.id)
    # A plain second delivery still leaves a live claim alone...
    assert ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder()).status == "skipped"
    # ...a redelivery (its worker was lost) takes it over at once.
    outcome = ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder(), take_over=True)
    assert outcome.status == "indexed"
    status, error, count, attempts = _status(conn, doc.id)
    assert (status, error, count, attempts) == ("indexed", None, outcome.chunks, 2)
    assert [p for p, _ in _chunks(conn, doc.id)] == list(range(count))
    # Once indexed, another redelivery does nothing.
    assert ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder(), take_over=True).status == "skipped"


def test_a_document_whose_worker_keeps_dying_is_failed_on_redelivery(conn):
    _, doc = _base_and_doc(conn)
    conn.execute("UPDATE ai.documents SET status = 'processing', attempts = %s, processing_started_at = now() "
                 "WHERE id = %s", (ingest.MAX_ATTEMPTS, doc.id))
    conn.commit()
    outcome = ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder(), take_over=True)
    assert outcome.status == "failed"
    status, error, _, _ = _status(conn, doc.id)
    assert status == "failed" and "stopped while processing it 3 times" in error
    assert _chunks(conn, doc.id) == []


def test_vectors_the_database_refuses_fail_the_document_with_the_reason(conn):
    # A base of 1536 dimensions given 384-dimension vectors: the chunks' CHECK refuses them. This
    # used to escape as an error of the task and leave the document `processing`.
    _, doc = _base_and_doc(conn)
    outcome = ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder(384))
    assert outcome.status == "failed"
    status, error, count, _ = _status(conn, doc.id)
    assert status == "failed" and count == 0 and "could not be written" in error and "chunks_dimensions" in error
    assert _chunks(conn, doc.id) == []


def test_the_database_going_away_while_the_chunks_are_written_is_retried_by_taking_over(conn, database):
    _, doc = _base_and_doc(conn)

    class Disconnecting(HashingEmbedder):
        """Embeds, then the worker's connection is terminated (a PostgreSQL restart) before the write."""

        def embed(self, texts):
            with psycopg.connect(database.database_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
            return super().embed(texts)

    with pytest.raises(ingest.RetryLater, match="OperationalError|AdminShutdown|terminat|closed"):
        ingest.ingest_document(conn, doc.id, lambda c, k: Disconnecting())
    with psycopg.connect(database.database_url) as fresh:
        # The claim could not be released (no connection): the retry takes it over.
        assert _status(fresh, doc.id)[0] == "processing"
        outcome = ingest.ingest_document(fresh, doc.id, lambda c, k: HashingEmbedder(), take_over=True)
        assert outcome.status == "indexed"
        assert len(_chunks(fresh, doc.id)) == outcome.chunks == _status(fresh, doc.id)[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_sigkill_of_the_embedding_process_mid_document_is_indexed_once_within_a_minute(
        conn, base_env, database, tmp_path):
    # Its own Redis and worker: the SIGKILL must not touch the session's embeddings worker.
    broker = EmbeddedRedis(tmp_path / "redis", free_port())
    broker.start()
    worker = None
    try:
        env = {**base_env, "REDIS_URL": broker.url}
        worker = start_embeddings_worker(env, tmp_path, "kbh-embeddings")
        wait_until(lambda: not worker.alive() or " ready." in worker.log_text(), 60, "the embeddings worker")
        assert worker.alive(), worker.log_text()
        kb = new_kb(conn, chunk_size=40, chunk_overlap=0, chunking="paragraph")
        text = "\n\n".join(f"Paragraph {i}: kettles of series {i} boil {i} litres in {i % 7 + 2} minutes "
                           f"and carry a {i % 5 + 1}-year warranty." for i in range(600))
        doc, _ = repo.add_document(conn, kb.id, title="Kettles", content=text)
        conn.commit()
        celery = make_celery(Settings.from_env(env))
        try:
            enqueue_document(celery, doc.id)
        finally:
            celery.close()
        wait_until(lambda: _status(conn, doc.id)[0] != "pending", 60, "the document claimed")
        assert _status(conn, doc.id)[0] == "processing", _status(conn, doc.id)
        children = _children(worker.pid)
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)
        wait_until(lambda: _status(conn, doc.id)[0] in ("indexed", "failed"), 120, "the document indexed again")
        status, error, count, attempts = _status(conn, doc.id)
        assert (status, error, attempts) == ("indexed", None, 2), worker.log_text()[-3000:]
        positions = [p for p, _ in _chunks(conn, doc.id)]
        assert positions == list(range(count)) and count >= 300
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
