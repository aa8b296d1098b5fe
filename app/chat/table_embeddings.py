"""Embeddings of table descriptions, computed once: in process memory, then ai.table_embeddings, then the
embedder (migration 0019).

An entry's key is a hash of the embedder's model and the exact text embedded, so it is never stale:
an ALTER changes the text and so the key. A 500-table schema costs about 15 s of CPU to embed with the
local model; after that, a turn reads its vectors from memory (or once per process from PostgreSQL).
Nothing here holds a pool connection while the model runs.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import ContextManager

import numpy as np
import psycopg

from app.knowledge.embedders import Embedder
from app.knowledge.repository import ensure_vector

log = logging.getLogger(__name__)

_READ = "select fingerprint, embedding from ai.table_embeddings where fingerprint = any(%(keys)s)"
_WRITE = """
insert into ai.table_embeddings (fingerprint, model, dimensions, embedding) values (%s, %s, %s, %s)
on conflict (fingerprint) do nothing
"""
# Vectors kept per process: 20,000 tables of 384 floats are about 30 MB.
MEMORY_ENTRIES = 20_000


def fingerprint(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


class TableEmbeddings:
    """`connect` lends an owner connection (a pool's `connection`); `run` runs CPU-bound work (the worker
    passes `off_hub`, so the local model runs in a native thread)."""

    def __init__(self, connect: Callable[[], ContextManager[psycopg.Connection]], embedder: Callable[[], Embedder],
                 run: Callable[[Callable[[], np.ndarray]], np.ndarray] = lambda f: f(),
                 memory_entries: int = MEMORY_ENTRIES):
        self._connect = connect
        self._embedder = embedder
        self._run = run
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._limit = memory_entries
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """One unit row per text, in order."""
        embedder = self._embedder()
        keys = [fingerprint(embedder.model, text) for text in texts]
        found = self._from_memory(keys)
        missing = [key for key in dict.fromkeys(keys) if key not in found]
        if missing:
            found.update(self._from_database(missing))
        todo = [(key, text) for key, text in dict(zip(keys, texts)).items() if key not in found]
        if todo:
            log.info("embedding %d table description(s)", len(todo))
            fresh = self._run(lambda: embedder.embed([text for _, text in todo]))
            rows = {key: np.asarray(vector, dtype=np.float32) for (key, _), vector in zip(todo, fresh)}
            self._store(embedder, rows)
            found.update(rows)
        self._remember(found)
        if not keys:
            return np.zeros((0, embedder.dimensions), dtype=np.float32)
        return np.stack([found[key] for key in keys])

    def query(self, text: str) -> np.ndarray:
        embedder = self._embedder()
        return self._run(lambda: embedder.embed([text]))[0]

    def _from_memory(self, keys: list[str]) -> dict[str, np.ndarray]:
        with self._lock:
            found = {}
            for key in keys:
                vector = self._memory.get(key)
                if vector is not None:
                    self._memory.move_to_end(key)
                    found[key] = vector
            return found

    def _remember(self, rows: dict[str, np.ndarray]) -> None:
        with self._lock:
            for key, vector in rows.items():
                self._memory[key] = vector
                self._memory.move_to_end(key)
            while len(self._memory) > self._limit:
                self._memory.popitem(last=False)

    def _from_database(self, keys: list[str]) -> dict[str, np.ndarray]:
        try:
            with self._connect() as conn:
                ensure_vector(conn)
                return {row[0] if not isinstance(row, dict) else row["fingerprint"]:
                        _array(row[1] if not isinstance(row, dict) else row["embedding"])
                        for row in conn.execute(_READ, {"keys": keys}).fetchall()}
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:   # a cache: without it the vectors are computed again
            log.warning("table embeddings could not be read: %s", exc)
            return {}

    def _store(self, embedder: Embedder, rows: dict[str, np.ndarray]) -> None:
        try:
            with self._connect() as conn:
                ensure_vector(conn)
                with conn.cursor() as cur:
                    cur.executemany(_WRITE, [(key, embedder.model, embedder.dimensions, vector)
                                             for key, vector in rows.items()])
                conn.commit()
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.warning("table embeddings could not be stored: %s", exc)


def _array(value) -> np.ndarray:
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)
