"""The local embedder: the shape promised, and the right chunk found for a paraphrased question."""
from __future__ import annotations

import threading

import numpy as np

from app.knowledge import repository as repo
from app.knowledge.embedders import local_embedder
from tests.app.knowledge.conftest import new_kb

CORPUS = {
    "Returns": "You may send any item back within 30 days of delivery for a full refund, as long as it is unused.",
    "Shipping": "Parcels leave our warehouse in Lyon every weekday and reach most EU addresses in three days.",
    "Warranty": "Every lamp and ceiling light we sell is covered against defects for two years after purchase.",
    "Payments": "We accept Visa, Mastercard and bank transfers; the card is charged when the order ships.",
    "Care": "Clean brass fittings with a soft dry cloth; water and polish leave marks on the lacquer.",
}


def test_shape_norm_and_sharing():
    embedder = local_embedder()
    assert (embedder.name, embedder.model, embedder.dimensions) == ("local", "all-MiniLM-L6-v2", 384)
    vectors = embedder.embed(["one", "two words", ""])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    # Long text is truncated, not refused; the same text gives the same vector in any batch.
    long = "lamp " * 2000
    assert np.allclose(embedder.embed([long])[0], embedder.embed(["x", long])[1], atol=1e-5)
    found = []
    threads = [threading.Thread(target=lambda: found.append(local_embedder())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(e is embedder for e in found)


def test_paraphrased_questions_find_their_chunk_and_unrelated_ones_nothing(conn):
    embedder = local_embedder()
    kb = new_kb(conn)
    titles = list(CORPUS)
    for title, vector in zip(titles, embedder.embed(list(CORPUS.values()))):
        doc, _ = repo.add_document(conn, kb.id, title=title, content=CORPUS[title])
        repo.copy_chunks(conn, kb, doc.id, None, [(0, CORPUS[title], 20, vector)])
    conn.commit()
    kb = repo.get_kb(conn, kb.id)
    questions = {
        "How long do I have to return something I bought?": "Returns",
        "When will my package arrive?": "Shipping",
        "Is my light fixture guaranteed if it breaks?": "Warranty",
        "Which credit cards can I pay with?": "Payments",
        "How should I polish the brass parts?": "Care",
    }
    for question, expected in questions.items():
        hits = repo.search(conn, kb, embedder.embed([question])[0], user_id=None, limit=3, threshold=0.3)
        assert hits and hits[0].title == expected, (question, [(h.title, round(h.similarity, 3)) for h in hits])
    unrelated = embedder.embed(["What is the boiling point of mercury on Mars?"])[0]
    assert repo.search(conn, kb, unrelated, user_id=None, limit=3, threshold=0.3) == []
