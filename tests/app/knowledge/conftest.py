from __future__ import annotations

import hashlib
import re
import uuid

import numpy as np
import psycopg
import pytest

from app.knowledge import repository as repo
from app.knowledge.embedders import normalise


@pytest.fixture
def conn(database):
    """A connection as the workers hold one: transactions explicit, committed by the code under test."""
    with psycopg.connect(database.database_url) as connection:
        yield connection


class HashingEmbedder:
    """A deterministic stand-in for a provider: bag of words hashed into `dimensions` buckets."""

    name = "fake"
    model = "hashing"

    def __init__(self, dimensions: int = 1536):
        self.dimensions = dimensions
        self.calls: list[int] = []

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dimensions] += 1.0
            out[row, 0] += 1e-3  # never all zero
        return normalise(out)


def new_kb(conn, *, dimensions: int = 384, embedder: str = "local", model: str = "all-MiniLM-L6-v2",
           chunking: str = "recursive", chunk_size: int = 200, chunk_overlap: int = 30):
    kb = repo.create_kb(conn, namespace="test", name=f"kb-{uuid.uuid4().hex[:10]}", description="a test base",
                        embedder=embedder, model=model, dimensions=dimensions, chunk_size=chunk_size,
                        chunk_overlap=chunk_overlap, chunking=chunking)
    conn.commit()
    return kb
