"""Fault 6: the embeddings worker's process SIGKILLed at a random point of a document (the prefork
child doing the embedding; Celery redelivers its message and the redelivery takes the dead claim
over). The document ends indexed once: the same chunks as a clean ingest of the same text, each
position once."""
from __future__ import annotations

import os
import signal
import threading
import time

import psycopg
import pytest

from app.jobs import make_celery
from app.knowledge import repository as repo
from app.knowledge.ingest import enqueue_document
from tests.app.knowledge.conftest import new_kb
from tests.app.knowledge.test_ingest_hostile import _children
from tests.support.processes import start_embeddings_worker, wait_until


@pytest.fixture(scope="module")
def embeddings(fault_stack):
    worker = start_embeddings_worker(fault_stack.env, fault_stack.root, "faults-embeddings")
    try:
        wait_until(lambda: not worker.alive() or " ready." in worker.log_text(), 90, "the embeddings worker")
        assert worker.alive(), worker.log_text()
        yield worker
    finally:
        worker.stop()


def _state(conn, doc_id):
    row = conn.execute("select status, error, chunk_count, attempts from ai.documents where id = %s",
                       (doc_id,)).fetchone()
    conn.commit()
    return row


def _chunks(conn, doc_id):
    rows = conn.execute("select position, content from ai.chunks where document_id = %s order by position",
                        (doc_id,)).fetchall()
    conn.commit()
    return rows


def test_the_embedding_process_killed_mid_document_indexes_it_once(fault_stack, embeddings, scale, report, rng):
    text = "\n\n".join(f"Paragraph {i}: kettles of series {i} boil {i} litres in {i % 7 + 2} minutes "
                       f"and carry a {i % 5 + 1}-year warranty." for i in range(scale.embed_paragraphs))
    celery = make_celery(fault_stack.settings)
    failures: list[str] = []
    fractions: list[float] = []
    try:
        with psycopg.connect(fault_stack.settings.database_url) as conn:
            def ingest():
                kb = new_kb(conn, chunk_size=40, chunk_overlap=0, chunking="paragraph")
                doc, _ = repo.add_document(conn, kb.id, title="Kettles", content=text)
                conn.commit()
                enqueue_document(celery, doc.id)
                wait_until(lambda: _state(conn, doc.id)[0] != "pending", 60, "the document claimed")
                return doc.id

            began = time.monotonic()
            clean = ingest()
            wait_until(lambda: _state(conn, clean)[0] == "indexed", 120, "the clean ingest")
            clean_seconds = time.monotonic() - began
            expected = _chunks(conn, clean)
            assert expected and _state(conn, clean)[2] == len(expected)

            for run in range(scale.embed_kills):
                fraction = rng.uniform(0.05, 0.6)
                for _ in range(3):  # a document that finished before the kill is tried again, sooner
                    doc_id = ingest()
                    # The fault's moment, chosen at random within the clean ingest's duration.
                    threading.Event().wait(fraction * clean_seconds)
                    if _state(conn, doc_id)[0] == "processing":
                        break
                    fraction /= 2
                fractions.append(fraction)
                children = _children(embeddings.pid)
                if len(children) != 1 or _state(conn, doc_id)[0] != "processing":
                    failures.append(f"run {run}: not killed mid-document ({children}, {_state(conn, doc_id)})")
                    continue
                os.kill(children[0], signal.SIGKILL)
                try:
                    wait_until(lambda: _state(conn, doc_id)[0] in ("indexed", "failed"), 120, "the document again")
                except TimeoutError as exc:
                    failures.append(f"run {run}: {exc}")
                    continue
                status, error, count, attempts = _state(conn, doc_id)
                got = _chunks(conn, doc_id)
                if (status, error, attempts) != ("indexed", None, 2):
                    failures.append(f"run {run}: {(status, error, attempts)}")
                if count != len(expected) or got != expected:
                    failures.append(f"run {run}: {len(got)} chunks (count {count}) where a clean ingest has "
                                    f"{len(expected)}")
    finally:
        celery.close()
    runs = scale.embed_kills
    failed_runs = len({f.split(":")[0] for f in failures})
    report.add("embedding process killed mid-document", runs,
               f"indexed once: the {len(expected)} chunks of a clean ingest, attempts 2",
               f"{runs - failed_runs}/{runs} as expected; killed at {min(fractions):.0%}-{max(fractions):.0%} "
               f"of a {clean_seconds:.1f} s ingest", failed_runs)
    assert not failures, failures
