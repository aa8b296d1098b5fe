"""Ingestion: pending -> processing -> indexed | failed, idempotent, and safe when a worker dies."""
from __future__ import annotations

import psycopg
import pytest

from app.jobs import REQUEUE_STUCK_DOCUMENTS, make_celery
from app.knowledge import repository as repo
from app.knowledge.embedders import EmbeddingError
from app.knowledge.ingest import EMBEDDINGS_QUEUE, enqueue_document
from app.providers.base import ProviderError
from tests.app.knowledge.conftest import HashingEmbedder, new_kb
from tests.support.processes import wait_until
from workers import ingest
from workers.ingest_tasks import retry_delay

TEXT = "\n\n".join(f"Paragraph {i}. Lamps of series {i} have a warranty of {i} years and ship in {i} days."
                   for i in range(40))


def _chunks(conn, doc_id):
    return conn.execute("SELECT position, content FROM ai.chunks WHERE document_id = %s ORDER BY position",
                        (doc_id,)).fetchall()


def _status(conn, doc_id):
    row = conn.execute("SELECT status, error, chunk_count, attempts FROM ai.documents WHERE id = %s",
                       (doc_id,)).fetchone()
    conn.commit()
    return row


def _base_and_doc(conn, **kb_options):
    kb = new_kb(conn, dimensions=1536, embedder="fake", model="hashing", chunking="paragraph", chunk_size=60,
                chunk_overlap=0, **kb_options)
    doc, _ = repo.add_document(conn, kb.id, title="Lamps", content=TEXT)
    conn.commit()
    return kb, doc


def test_indexed_once_and_skipped_on_redelivery(conn):
    kb, doc = _base_and_doc(conn)
    fake = HashingEmbedder(1536)
    outcome = ingest.ingest_document(conn, doc.id, lambda c, k: fake)
    assert outcome.status == "indexed" and outcome.chunks > 5
    status, error, count, attempts = _status(conn, doc.id)
    assert (status, error, count, attempts) == ("indexed", None, outcome.chunks, 1)
    chunks = _chunks(conn, doc.id)
    assert [p for p, _ in chunks] == list(range(outcome.chunks))
    assert chunks[0][1].startswith("Paragraph 0.") and "\n\n" in chunks[0][1]
    # The same message again, and the same content added again: nothing happens.
    assert ingest.ingest_document(conn, doc.id, lambda c, k: fake).status == "skipped"
    again, created = repo.add_document(conn, kb.id, title="Lamps again", content=TEXT)
    conn.commit()
    assert not created and again.id == doc.id and again.status == "indexed"
    assert len(_chunks(conn, doc.id)) == outcome.chunks and len(fake.calls) == 1
    assert repo.get_kb(conn, kb.id).chunk_count == outcome.chunks


def test_a_worker_killed_mid_document_leaves_it_requeued_and_indexed_once(conn, database):
    kb, doc = _base_and_doc(conn)
    # The first worker claims the document, then dies (nothing more happens on its side).
    claimed = conn.execute(ingest.CLAIM, {"id": doc.id, "take_over": False,
                                          "max_attempts": ingest.MAX_ATTEMPTS}).fetchone()
    conn.commit()
    assert claimed is not None and _status(conn, doc.id)[0] == "processing"
    # Its redelivered message finds the document taken, and does nothing.
    assert ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder()).status == "skipped"
    # Not stuck yet: beat leaves it alone.
    assert doc.id not in ingest.requeue_stuck(conn)
    conn.execute("UPDATE ai.documents SET processing_started_at = now() - interval '1 hour' WHERE id = %s", (doc.id,))
    conn.commit()
    assert doc.id in ingest.requeue_stuck(conn)
    assert _status(conn, doc.id)[0] == "pending"
    outcome = ingest.ingest_document(conn, doc.id, lambda c, k: HashingEmbedder())
    assert outcome.status == "indexed"
    assert _status(conn, doc.id)[:3] == ("indexed", None, outcome.chunks)
    assert len(_chunks(conn, doc.id)) == outcome.chunks
    assert doc.id not in ingest.requeue_stuck(conn)


def test_a_late_worker_does_not_write_over_the_one_that_took_over(conn, database):
    kb, doc = _base_and_doc(conn)

    class Slow(HashingEmbedder):
        """Embeds while the document is declared stuck and a second worker indexes it."""

        def embed(self, texts):
            with psycopg.connect(database.database_url) as other:
                other.execute("UPDATE ai.documents SET processing_started_at = now() - interval '1 hour' "
                              "WHERE id = %s", (doc.id,))
                other.commit()
                assert doc.id in ingest.requeue_stuck(other)
                assert ingest.ingest_document(other, doc.id, lambda c, k: HashingEmbedder()).status == "indexed"
            return super().embed(texts)

    assert ingest.ingest_document(conn, doc.id, lambda c, k: Slow()).status == "superseded"
    status, _, count, attempts = _status(conn, doc.id)
    assert status == "indexed" and attempts == 2 and len(_chunks(conn, doc.id)) == count


def test_permanent_errors_fail_with_the_reason_and_provider_errors_retry(conn):
    kb, doc = _base_and_doc(conn)

    def wrong_shape(c, k):
        raise EmbeddingError("provider/x answered 768-dimension vectors; the knowledge base expects 1536")

    outcome = ingest.ingest_document(conn, doc.id, wrong_shape)
    assert outcome.status == "failed"
    assert _status(conn, doc.id)[:2] == ("failed", "provider/x answered 768-dimension vectors; "
                                                   "the knowledge base expects 1536")
    assert _chunks(conn, doc.id) == []

    _, doc2 = _base_and_doc(conn)

    class Flaky(HashingEmbedder):
        def embed(self, texts):
            raise ProviderError("503 from the provider", retry_after=30)

    with pytest.raises(ingest.RetryLater) as caught:
        ingest.ingest_document(conn, doc2.id, lambda c, k: Flaky())
    assert isinstance(caught.value.__cause__, ProviderError)
    assert _status(conn, doc2.id)[0] == "pending"          # the retry can claim it again
    assert retry_delay(0) == 10 and retry_delay(3) == 80 and retry_delay(10) == 600 and retry_delay(0, 30) == 30
    assert ingest.ingest_document(conn, doc2.id, lambda c, k: HashingEmbedder()).status == "indexed"


def test_a_document_that_kills_its_worker_every_time_is_failed(conn):
    _, doc = _base_and_doc(conn)
    conn.execute("UPDATE ai.documents SET status = 'processing', attempts = %s, "
                 "processing_started_at = now() - interval '1 hour' WHERE id = %s", (ingest.MAX_ATTEMPTS, doc.id))
    conn.commit()
    assert doc.id not in ingest.requeue_stuck(conn)
    status, error, _, _ = _status(conn, doc.id)
    assert status == "failed" and "stopped while processing it 3 times" in error


def test_the_embeddings_worker_indexes_sent_documents_and_requeues_stuck_ones(conn, database, embeddings_worker):
    celery = make_celery(database)
    kb = new_kb(conn, chunk_size=40, chunk_overlap=10)
    doc, _ = repo.add_document(conn, kb.id, title="Lamps", content=TEXT, source="markdown")
    conn.commit()
    enqueue_document(celery, doc.id)
    wait_until(lambda: _status(conn, doc.id)[0] in ("indexed", "failed"), 60, "the document indexed")
    status, error, count, _ = _status(conn, doc.id)
    assert (status, error) == ("indexed", None) and count == len(_chunks(conn, doc.id)) > 5
    kb = repo.get_kb(conn, kb.id)
    from app.knowledge.embedders import local_embedder
    hits = repo.search(conn, kb, local_embedder().embed(["warranty of series 7"])[0], user_id=None, limit=3,
                       threshold=0.2)
    assert hits and "series 7" in hits[0].content

    # A document a dead worker left in processing: beat's job (sent here by hand) puts it through.
    stuck, _ = repo.add_document(conn, kb.id, title="Stuck", content=TEXT + "\n\nOne more paragraph.")
    conn.execute("UPDATE ai.documents SET status = 'processing', attempts = 1, "
                 "processing_started_at = now() - interval '1 hour' WHERE id = %s", (stuck.id,))
    conn.commit()
    celery.send_task(REQUEUE_STUCK_DOCUMENTS, queue=EMBEDDINGS_QUEUE)
    wait_until(lambda: _status(conn, stuck.id)[0] == "indexed", 60, "the stuck document indexed")
    assert _status(conn, stuck.id)[3] == 2
    celery.close()
