"""Knowledge bases, documents and chunks in PostgreSQL: CRUD, hashes, dimensions, the HNSW index, owners."""
from __future__ import annotations

import uuid

import numpy as np
import pytest

from app.knowledge import repository as repo
from app.knowledge.records import PENDING
from tests.app.knowledge.conftest import HashingEmbedder, new_kb

ALICE = "11111111-1111-1111-1111-111111111111"
BOB = "22222222-2222-2222-2222-222222222222"


def _random_unit(n: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _store(conn, kb, title, texts, vectors, owner=None):
    doc, _ = repo.add_document(conn, kb.id, title=title, content="\n\n".join(texts) + uuid.uuid4().hex,
                               owner_id=owner)
    repo.copy_chunks(conn, kb, doc.id, owner, ((i, t, 10, v) for i, (t, v) in enumerate(zip(texts, vectors))))
    conn.commit()
    return doc


def _scans(plan: str) -> list[str]:
    return [line.strip() for line in plan.splitlines() if "Scan" in line]


def test_knowledge_base_crud(conn):
    kb = new_kb(conn)
    assert repo.get_kb(conn, kb.id) == kb
    assert repo.find_kb(conn, "test", kb.name) == kb
    assert kb in repo.list_kbs(conn, "test") and kb in repo.list_kbs(conn)
    assert kb not in repo.list_kbs(conn, "elsewhere")
    with pytest.raises(repo.KnowledgeBaseExists):
        repo.create_kb(conn, namespace="test", name=kb.name, description="", embedder="local",
                       model="all-MiniLM-L6-v2", dimensions=384, chunk_size=200, chunk_overlap=0, chunking="fixed")
    conn.rollback()
    changed = repo.update_kb(conn, kb.id, description="changed", chunk_size=120)
    assert (changed.description, changed.chunk_size, changed.name) == ("changed", 120, kb.name)
    assert changed.updated_at > kb.updated_at
    other = new_kb(conn)
    with pytest.raises(repo.KnowledgeBaseExists):
        repo.update_kb(conn, other.id, name=kb.name)
    with pytest.raises(ValueError):
        repo.update_kb(conn, kb.id, id="x")
    assert repo.update_kb(conn, str(uuid.uuid4()), description="x") is None
    assert repo.get_kb(conn, "not-a-uuid") is None
    assert repo.delete_kb(conn, kb.id) is True
    assert repo.delete_kb(conn, kb.id) is False
    assert repo.get_kb(conn, kb.id) is None
    conn.commit()


def test_documents_by_hash_list_and_delete(conn):
    kb = new_kb(conn)
    doc, created = repo.add_document(conn, kb.id, title="Returns", content="Send it back within 30 days.",
                                     metadata={"url": "/returns"}, tags=["policy"], source="markdown")
    assert created and doc.status == PENDING and doc.metadata == {"url": "/returns"} and doc.tags == ("policy",)
    assert doc.content_hash == repo.content_hash("Send it back within 30 days.") and doc.size_bytes == 28
    again, created = repo.add_document(conn, kb.id, title="Another title", content="Send it back within 30 days.")
    assert not created and again.id == doc.id and again.title == "Returns"
    # The same content for an owner is a document of its own (the shared one is not theirs to change).
    mine, created = repo.add_document(conn, kb.id, title="Mine", content="Send it back within 30 days.", owner_id=ALICE)
    assert created and mine.id != doc.id and mine.owner_id == ALICE
    # ... and in another base too.
    other_kb = new_kb(conn)
    _, created = repo.add_document(conn, other_kb.id, title="Returns", content="Send it back within 30 days.")
    assert created
    listed, total = repo.list_documents(conn, kb.id, limit=1, offset=0)
    assert total == 2 and len(listed) == 1 and listed[0].id == mine.id   # newest first
    assert repo.list_documents(conn, kb.id, limit=10, offset=5) == ([], 2)
    repo.copy_chunks(conn, kb, doc.id, None, [(0, "Send it back", 3, _random_unit(1, 384, 1)[0])])
    conn.commit()
    assert repo.get_kb(conn, kb.id).chunk_count == 1 and repo.get_kb(conn, kb.id).document_count == 2
    with pytest.raises(ValueError, match="cannot change dimensions"):
        repo.update_kb(conn, kb.id, dimensions=1536)
    assert repo.update_kb(conn, kb.id, dimensions=384, chunking="fixed").chunking == "fixed"
    assert repo.get_document(conn, kb.id, doc.id) == doc
    assert repo.get_document(conn, other_kb.id, doc.id) is None
    assert repo.delete_document(conn, kb.id, doc.id) is True
    assert repo.delete_document(conn, kb.id, doc.id) is False
    assert repo.get_kb(conn, kb.id).chunk_count == 0   # its chunks went with it
    conn.commit()


def test_bases_of_384_and_1536_dimensions_coexist(conn):
    small, large = new_kb(conn, dimensions=384), new_kb(conn, dimensions=1536, embedder="fake", model="hashing")
    fake = HashingEmbedder(1536)
    texts = ["Lamps carry a two-year warranty", "We ship across the European Union", "Refunds take five days"]
    _store(conn, large, "Policies", texts, fake.embed(texts))
    vectors = _random_unit(3, 384, 7)
    _store(conn, small, "Random", texts, vectors)
    hits = repo.search(conn, large, fake.embed(["how long is the warranty on lamps"])[0], user_id=None, limit=2,
                       threshold=0.1)
    assert hits[0].content == "Lamps carry a two-year warranty" and hits[0].title == "Policies"
    hits = repo.search(conn, small, vectors[2], user_id=None, limit=1, threshold=0.0)
    assert hits[0].content == "Refunds take five days" and hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="dimensions"):
        repo.search(conn, small, fake.embed(["x"])[0], user_id=None, limit=1, threshold=0.0)


def test_threshold_and_order(conn):
    kb = new_kb(conn, dimensions=384)
    base = _random_unit(1, 384, 3)[0]
    noise = _random_unit(4, 384, 4)
    # Chunks at decreasing similarity to `base`.
    vectors = [base * (1 - w) + n * w for w, n in zip((0.0, 0.3, 0.6, 1.0), noise)]
    vectors = [v / np.linalg.norm(v) for v in vectors]
    _store(conn, kb, "Graded", ["a", "b", "c", "d"], vectors)
    hits = repo.search(conn, kb, base, user_id=None, limit=10, threshold=0.5)
    sims = [h.similarity for h in hits]
    assert [h.content for h in hits][0] == "a" and sims == sorted(sims, reverse=True)
    assert all(s >= 0.5 for s in sims) and "d" not in [h.content for h in hits]
    assert len(repo.search(conn, kb, base, user_id=None, limit=2, threshold=-1)) == 2


def test_owner_isolation(conn):
    kb = new_kb(conn, dimensions=384)
    vectors = _random_unit(3, 384, 11)
    _store(conn, kb, "Shared", ["shared"], vectors[:1])
    _store(conn, kb, "Alice's", ["alice"], vectors[1:2], owner=ALICE)
    _store(conn, kb, "Bob's", ["bob"], vectors[2:3], owner=BOB)

    def seen(user):
        return sorted(h.content for h in repo.search(conn, kb, vectors[1], user_id=user, limit=10, threshold=-1))

    assert seen(ALICE) == ["alice", "shared"]
    assert seen(BOB) == ["bob", "shared"]
    assert seen(None) == ["shared"]
    assert seen("not-a-uuid") == ["shared"]


@pytest.mark.parametrize("dims", [384, 1536])
def test_large_bases_search_through_the_hnsw_index_small_ones_exactly(conn, dims, monkeypatch):
    # A second base of the same dimension shares the table and the index: the kb filter applies.
    monkeypatch.setattr(repo, "EXACT_SEARCH_MAX_CHUNKS", 500)
    other = new_kb(conn, dimensions=dims)
    _store(conn, other, "Other", [f"other {i}" for i in range(300)], _random_unit(300, dims, dims + 1))
    kb = new_kb(conn, dimensions=dims)
    vectors = _random_unit(1200, dims, dims)
    _store(conn, kb, "Many", [f"chunk {i}" for i in range(1200)], vectors)
    conn.execute("ANALYZE ai.chunks")
    conn.commit()
    kb, other = repo.get_kb(conn, kb.id), repo.get_kb(conn, other.id)
    plan = repo.explain_search(conn, kb, vectors[0], limit=5, threshold=0.2)
    assert f"Index Scan using chunks_hnsw_{dims} on chunks" in plan, _scans(plan)
    hits = repo.search(conn, kb, vectors[42], user_id=None, limit=5, threshold=0.0)
    assert hits[0].content == "chunk 42" and all(h.content.startswith("chunk") for h in hits)
    # The small base: exact, no HNSW (approximate search over few rows would only lose recall).
    plan = repo.explain_search(conn, other, vectors[0], limit=5)
    assert "hnsw" not in plan and "chunks_by_kb" in plan, _scans(plan)
    assert len(repo.search(conn, other, vectors[0], user_id=None, limit=5, threshold=-1)) == 5
