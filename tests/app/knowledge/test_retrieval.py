"""Retrieval for a turn: bases searched under the user's owner rules, merged by similarity, and no
pool connection held while the query is embedded."""
from __future__ import annotations

import contextlib
import uuid

import psycopg

from app.knowledge import repository as repo
from app.knowledge import retrieval
from tests.app.knowledge.conftest import HashingEmbedder, new_kb


class CountingConnections:
    """A stand-in pool: lends real connections and knows how many are out."""

    def __init__(self, url: str):
        self.url, self.out, self.lent = url, 0, 0

    @contextlib.contextmanager
    def connection(self):
        self.out += 1
        self.lent += 1
        try:
            with psycopg.connect(self.url) as conn:
                yield conn
        finally:
            self.out -= 1


def _store(conn, kb, embedder, title, text, owner=None):
    doc, _ = repo.add_document(conn, kb.id, title=title, content=text + uuid.uuid4().hex, owner_id=owner)
    repo.copy_chunks(conn, kb, doc.id, owner, [(0, text, 10, embedder.embed([text])[0])])
    conn.commit()


def test_the_query_is_embedded_with_no_connection_held(conn, database, monkeypatch):
    pool = CountingConnections(database.database_url)
    held_while_embedding: list[int] = []

    class Watching(HashingEmbedder):
        def embed(self, texts):
            held_while_embedding.append(pool.out)
            return super().embed(texts)

    embedder = Watching(384)
    first, second = new_kb(conn, dimensions=384), new_kb(conn, dimensions=384)
    _store(conn, first, embedder, "Returns", "returns are accepted within thirty days")
    _store(conn, second, embedder, "Shipping", "shipping takes three days")
    _store(conn, second, embedder, "Private", "returns for alice only", owner=str(uuid.uuid4()))
    monkeypatch.setattr(retrieval, "embedder_for", lambda _conn, _settings, _kb: embedder)
    held_while_embedding.clear()

    found = retrieval.retrieve(pool.connection, database, namespace="test",
                               names=[first.name, second.name, "no-such-base"],
                               query="are returns accepted", user_id=None, max_chunks=5, threshold=0.1)

    assert held_while_embedding == [0]          # one embedding for both bases (same embedder), none lent
    assert pool.out == 0 and pool.lent == 2     # one connection to find the bases, one to search them
    assert found.failed == ("no-such-base",)
    assert found.passages[0].title == "Returns"   # merged across bases, best first
    assert "Private" not in [p.title for p in found.passages]


def test_an_embedder_that_fails_drops_only_its_bases(conn, database, monkeypatch):
    pool = CountingConnections(database.database_url)
    good = HashingEmbedder(384)
    broken_kb, good_kb = new_kb(conn, dimensions=384), new_kb(conn, dimensions=384, model="other-model")
    _store(conn, good_kb, good, "Hours", "the shop opens at nine")

    class Broken(HashingEmbedder):
        def embed(self, texts):
            raise RuntimeError("model server down")

    monkeypatch.setattr(retrieval, "embedder_for",
                        lambda _conn, _settings, kb: Broken(384) if kb.id == broken_kb.id else good)
    found = retrieval.retrieve(pool.connection, database, namespace="test", names=[broken_kb.name, good_kb.name],
                               query="when does the shop open", user_id=None, max_chunks=3, threshold=0.1)
    assert found.failed == (broken_kb.name,)
    assert [p.title for p in found.passages] == ["Hours"]
    assert pool.out == 0
