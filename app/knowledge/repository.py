"""SQL for `ai.knowledge_bases`, `ai.documents` and `ai.chunks`: functions taking a psycopg connection.

Transactions belong to the caller. Similarity search casts the untyped embedding column to the
base's dimension and repeats the partial-index predicate (`dimensions = N`), so PostgreSQL walks
the HNSW index of migration 0014 for 384- and 1536-dimension bases alike.
"""
from __future__ import annotations

import hashlib
import uuid
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.knowledge.records import ChunkHit, Document, KnowledgeBase

# Dimensions with an HNSW index (migrations 0014, 0015); others are searched exactly.
INDEXED_DIMENSIONS = (384, 768, 1024, 1536)
# Bases up to this many chunks are searched exactly (see _plan_settings).
EXACT_SEARCH_MAX_CHUNKS = 2000
# HNSW's candidate list: larger finds more of the true neighbours, slower (pgvector's default is 40).
# 120 on migration 0015's graph: recall@5 0.97 over 100,000 chunks at a 9 ms p50 (docs/knowledge.md).
EF_SEARCH = 120


class KnowledgeBaseExists(Exception):
    """A base with this name exists in this namespace."""


_KB_COLUMNS = """kb.id::text AS id, kb.namespace, kb.name, kb.description, kb.embedder,
  kb.embedding_model AS model, kb.embedding_dimensions AS dimensions, kb.chunk_size, kb.chunk_overlap,
  kb.chunk_strategy AS chunking, kb.created_at, kb.updated_at,
  (SELECT count(*) FROM ai.documents d WHERE d.kb_id = kb.id)::int AS document_count,
  (SELECT count(*) FROM ai.chunks c WHERE c.kb_id = kb.id)::int AS chunk_count"""
SELECT_KB = f"SELECT {_KB_COLUMNS} FROM ai.knowledge_bases kb WHERE kb.id = %(id)s"
FIND_KB = f"SELECT {_KB_COLUMNS} FROM ai.knowledge_bases kb WHERE kb.namespace = %(namespace)s AND kb.name = %(name)s"
LIST_KBS = f"""SELECT {_KB_COLUMNS} FROM ai.knowledge_bases kb
 WHERE %(namespace)s::text IS NULL OR kb.namespace = %(namespace)s ORDER BY kb.namespace, kb.name"""
INSERT_KB = """
INSERT INTO ai.knowledge_bases (id, namespace, name, description, embedder, embedding_model, embedding_dimensions,
                                chunk_size, chunk_overlap, chunk_strategy)
VALUES (%(id)s, %(namespace)s, %(name)s, %(description)s, %(embedder)s, %(model)s, %(dimensions)s,
        %(chunk_size)s, %(chunk_overlap)s, %(chunking)s)
ON CONFLICT (namespace, name) DO NOTHING RETURNING id::text"""
DELETE_KB = "DELETE FROM ai.knowledge_bases WHERE id = %(id)s RETURNING id"
# Column names of KnowledgeBase fields that update_kb may change; the embedder, model and dimensions
# only while the base has no chunks. A new chunking applies to documents ingested after the change.
_FIXED_ONCE_EMBEDDED = {"embedder", "model", "dimensions"}
_UPDATABLE = {"name": "name", "namespace": "namespace", "description": "description", "embedder": "embedder",
              "model": "embedding_model", "dimensions": "embedding_dimensions", "chunk_size": "chunk_size",
              "chunk_overlap": "chunk_overlap", "chunking": "chunk_strategy"}

_DOC_COLUMNS = """id::text AS id, kb_id::text AS kb_id, title, status, error, content_hash, metadata,
  owner_id::text AS owner_id, tags, chunk_count, size_bytes, source, created_at, updated_at"""
INSERT_DOCUMENT = f"""
INSERT INTO ai.documents (id, kb_id, title, content, content_hash, metadata, owner_id, tags, source, size_bytes)
VALUES (%(id)s, %(kb_id)s, %(title)s, %(content)s, %(hash)s, %(metadata)s, %(owner_id)s, %(tags)s, %(source)s,
        %(size)s)
ON CONFLICT (kb_id, content_hash, owner_id) DO NOTHING RETURNING {_DOC_COLUMNS}"""
SELECT_BY_HASH = f"""SELECT {_DOC_COLUMNS} FROM ai.documents
 WHERE kb_id = %(kb_id)s AND content_hash = %(hash)s AND owner_id IS NOT DISTINCT FROM %(owner_id)s::uuid"""
SELECT_DOCUMENT = f"SELECT {_DOC_COLUMNS} FROM ai.documents WHERE kb_id = %(kb_id)s AND id = %(id)s"
LIST_DOCUMENTS = f"""SELECT {_DOC_COLUMNS}, count(*) OVER () AS total FROM ai.documents
 WHERE kb_id = %(kb_id)s ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s"""
COUNT_DOCUMENTS = "SELECT count(*) AS n FROM ai.documents WHERE kb_id = %(kb_id)s"
DELETE_DOCUMENT = "DELETE FROM ai.documents WHERE kb_id = %(kb_id)s AND id = %(id)s RETURNING id"

# Nearest first by the index (iterative scans keep going past rows the filters drop), then the
# threshold and an exact re-sort over the few rows found.
_SEARCH = """
SELECT hit.document_id, d.title, hit.content, hit.similarity, hit.position, d.metadata
  FROM (SELECT c.document_id, c.content, c.position, 1 - ({distance}) AS similarity
          FROM ai.chunks c
         WHERE c.dimensions = {dims} AND c.kb_id = %(kb_id)s
           AND (c.owner_id IS NULL OR c.owner_id = %(user_id)s::uuid)
         ORDER BY {distance}
         LIMIT %(limit)s) hit
  JOIN ai.documents d ON d.id = hit.document_id
 WHERE hit.similarity >= %(threshold)s
 ORDER BY hit.similarity DESC, hit.position"""

COPY_CHUNKS = ("COPY ai.chunks (kb_id, document_id, owner_id, position, content, token_count, dimensions, embedding) "
               "FROM STDIN WITH (FORMAT BINARY)")

_registered: weakref.WeakSet = weakref.WeakSet()


def ensure_vector(conn: psycopg.Connection) -> None:
    """pgvector's adapters on this connection (numpy arrays in, binary COPY), once per connection."""
    if conn not in _registered:
        register_vector(conn)
        _registered.add(conn)


def _run(conn: psycopg.Connection, statement: str, params: Mapping[str, Any] | None = None):
    # Dict rows whatever the connection's own row factory (the CLI's connections have none).
    return conn.cursor(row_factory=dict_row).execute(statement, params)


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _kb(row: Mapping[str, Any] | None) -> KnowledgeBase | None:
    return KnowledgeBase(**row) if row is not None else None


def _doc(row: Mapping[str, Any] | None) -> Document | None:
    if row is None:
        return None
    data = {k: v for k, v in row.items() if k != "total"}
    data["tags"] = tuple(data.get("tags") or ())
    return Document(**data)


def _uuid_or_none(value: str | None) -> str | None:
    """A malformed id matches nothing (a lookup answers None, not a database error)."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError):
        return None


# --- knowledge bases ---------------------------------------------------------------------------

def create_kb(conn: psycopg.Connection, *, namespace: str, name: str, description: str, embedder: str, model: str,
              dimensions: int, chunk_size: int, chunk_overlap: int, chunking: str) -> KnowledgeBase:
    row = _run(conn, INSERT_KB, {"id": str(uuid.uuid4()), "namespace": namespace, "name": name,
                                 "description": description or "", "embedder": embedder, "model": model,
                                 "dimensions": dimensions, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap,
                                 "chunking": chunking}).fetchone()
    if row is None:
        raise KnowledgeBaseExists(f"a knowledge base named {name} exists in namespace {namespace}")
    return get_kb(conn, row["id"])


def get_kb(conn: psycopg.Connection, kb_id: str) -> KnowledgeBase | None:
    kb_id = _uuid_or_none(kb_id)
    return _kb(_run(conn, SELECT_KB, {"id": kb_id}).fetchone()) if kb_id else None


def find_kb(conn: psycopg.Connection, namespace: str, name: str) -> KnowledgeBase | None:
    return _kb(_run(conn, FIND_KB, {"namespace": namespace, "name": name}).fetchone())


def list_kbs(conn: psycopg.Connection, namespace: str | None = None) -> list[KnowledgeBase]:
    return [_kb(row) for row in _run(conn, LIST_KBS, {"namespace": namespace}).fetchall()]


def update_kb(conn: psycopg.Connection, kb_id: str, **changes: Any) -> KnowledgeBase | None:
    """Changes the named fields (KnowledgeBase names); None when the base does not exist.
    Raises KnowledgeBaseExists on a rename onto a taken name, ValueError on an unknown field."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
    kb_id = _uuid_or_none(kb_id)
    if kb_id is None:
        return None
    if set(changes) & _FIXED_ONCE_EMBEDDED:
        current = get_kb(conn, kb_id)
        if current is None:
            return None
        moved = {k for k in _FIXED_ONCE_EMBEDDED & set(changes) if changes[k] != getattr(current, k)}
        if moved and current.chunk_count:
            raise ValueError(f"cannot change {', '.join(sorted(moved))} of a base with chunks: their vectors "
                             "would not compare with the new ones (create a new base)")
    if changes:
        sets = ", ".join(f"{_UPDATABLE[k]} = %({k})s" for k in changes)
        try:
            with conn.transaction():
                updated = _run(conn, f"UPDATE ai.knowledge_bases SET {sets}, updated_at = now() "
                                     f"WHERE id = %(id)s RETURNING id", {**changes, "id": kb_id}).fetchone()
        except psycopg.errors.UniqueViolation:
            raise KnowledgeBaseExists("a knowledge base with that name exists in that namespace") from None
        if updated is None:
            return None
    return get_kb(conn, kb_id)


def delete_kb(conn: psycopg.Connection, kb_id: str) -> bool:
    """Deletes the base with its documents and chunks (foreign keys cascade)."""
    kb_id = _uuid_or_none(kb_id)
    return bool(kb_id) and _run(conn, DELETE_KB, {"id": kb_id}).fetchone() is not None


# --- documents ---------------------------------------------------------------------------------

def add_document(conn: psycopg.Connection, kb_id: str, *, title: str, content: str,
                 metadata: Mapping[str, Any] | None = None, owner_id: str | None = None,
                 tags: Iterable[str] = (), source: str = "text") -> tuple[Document, bool]:
    """A new pending document, or the existing one with the same content (and owner) and False.
    The caller enqueues ingestion (app/knowledge/ingest.py) after committing."""
    params = {"id": str(uuid.uuid4()), "kb_id": kb_id, "title": title, "content": content,
              "hash": content_hash(content), "metadata": Jsonb(dict(metadata or {})), "owner_id": owner_id,
              "tags": list(tags), "source": source, "size": len(content.encode("utf-8"))}
    row = _run(conn, INSERT_DOCUMENT, params).fetchone()
    if row is not None:
        return _doc(row), True
    return _doc(_run(conn, SELECT_BY_HASH, params).fetchone()), False


def list_documents(conn: psycopg.Connection, kb_id: str, limit: int = 50, offset: int = 0) -> tuple[list[Document], int]:
    rows = _run(conn, LIST_DOCUMENTS, {"kb_id": kb_id, "limit": limit, "offset": offset}).fetchall()
    if rows:
        return [_doc(row) for row in rows], rows[0]["total"]
    return [], _run(conn, COUNT_DOCUMENTS, {"kb_id": kb_id}).fetchone()["n"]


def get_document(conn: psycopg.Connection, kb_id: str, doc_id: str) -> Document | None:
    doc_id = _uuid_or_none(doc_id)
    return _doc(_run(conn, SELECT_DOCUMENT, {"kb_id": kb_id, "id": doc_id}).fetchone()) if doc_id else None


def delete_document(conn: psycopg.Connection, kb_id: str, doc_id: str) -> bool:
    """Deletes the document and its chunks (cascade); a worker embedding it finds it gone and stops."""
    doc_id = _uuid_or_none(doc_id)
    return bool(doc_id) and _run(conn, DELETE_DOCUMENT, {"kb_id": kb_id, "id": doc_id}).fetchone() is not None


# --- chunks ------------------------------------------------------------------------------------

# The index's expression (operator on the cast column), or the same distance as a function call,
# which no index matches: exact by construction.
_INDEXED_DISTANCE = "c.embedding::vector({dims}) <=> %(query)s::vector({dims})"
_EXACT_DISTANCE = "cosine_distance(c.embedding, %(query)s::vector)"


def search_sql(dimensions: int, *, exact: bool = False) -> str:
    dims = int(dimensions)
    distance = _EXACT_DISTANCE if exact else _INDEXED_DISTANCE.format(dims=dims)
    return _SEARCH.format(dims=dims, distance=distance)


def exact_search(kb: KnowledgeBase) -> bool:
    return kb.chunk_count <= EXACT_SEARCH_MAX_CHUNKS or kb.dimensions not in INDEXED_DIMENSIONS


def _plan_settings(conn: psycopg.Connection, kb: KnowledgeBase, limit: int) -> None:
    """How the search runs, decided here rather than by the planner, whose costs ignore that a
    1536-dimension vector is read out of TOAST: a base of up to EXACT_SEARCH_MAX_CHUNKS chunks is
    searched exactly (exact, and a few milliseconds through its kb_id index); a larger one walks
    the HNSW index of its dimension, with iterative scans so the kb and owner filters do not
    shorten the answer. Settings are local to the caller's (sub)transaction."""
    if not exact_search(kb):
        # With sorting and the other scans priced out, the one path left is the index's own order.
        conn.execute("SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true), "
                     "set_config('enable_sort', 'off', true), "
                     "set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %s, true)",
                     (str(max(EF_SEARCH, int(limit))),))


def _search_params(kb: KnowledgeBase, query: np.ndarray, user_id: str | None, limit: int, threshold: float) -> dict:
    vector = np.asarray(query, dtype=np.float32).reshape(-1)
    if vector.shape[0] != kb.dimensions:
        raise ValueError(f"query has {vector.shape[0]} dimensions; {kb.name} has {kb.dimensions}")
    return {"query": vector, "kb_id": kb.id, "user_id": _uuid_or_none(user_id), "limit": int(limit),
            "threshold": float(threshold)}


def search(conn: psycopg.Connection, kb: KnowledgeBase, query: np.ndarray, *, user_id: str | None,
           limit: int, threshold: float) -> list[ChunkHit]:
    """The `limit` chunks most similar to `query` (cosine similarity = 1 - distance) at or above
    `threshold`, best first, among documents with no owner or owned by `user_id`. `kb` should be
    fresh from get_kb/find_kb: its chunk_count chooses exact or HNSW search."""
    ensure_vector(conn)
    params = _search_params(kb, query, user_id, limit, threshold)
    with conn.transaction():
        _plan_settings(conn, kb, limit)
        rows = _run(conn, search_sql(kb.dimensions, exact=exact_search(kb)), params).fetchall()
    return [ChunkHit(document_id=str(r["document_id"]), title=r["title"], content=r["content"],
                     similarity=float(r["similarity"]), position=r["position"], metadata=r["metadata"] or {})
            for r in rows]


def explain_search(conn: psycopg.Connection, kb: KnowledgeBase, query: np.ndarray, *, user_id: str | None = None,
                   limit: int = 5, threshold: float = 0.0, analyze: bool = False) -> str:
    """The plan `search` runs with these arguments (tests and `fluxbase doctor`-style checks)."""
    ensure_vector(conn)
    params = _search_params(kb, query, user_id, limit, threshold)
    with conn.transaction():
        _plan_settings(conn, kb, limit)
        explain = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
        rows = conn.execute(explain + search_sql(kb.dimensions, exact=exact_search(kb)), params).fetchall()
    return "\n".join(next(iter(row.values())) if isinstance(row, dict) else row[0] for row in rows)


def copy_chunks(conn: psycopg.Connection, kb: KnowledgeBase, document_id: str, owner_id: str | None,
                rows: Iterable[tuple[int, str, int, np.ndarray]]) -> int:
    """Writes (position, content, token_count, embedding) rows with binary COPY; returns how many."""
    ensure_vector(conn)
    count = 0
    kb_uuid, doc_uuid = uuid.UUID(kb.id), uuid.UUID(document_id)
    owner_uuid = uuid.UUID(owner_id) if owner_id else None
    with conn.cursor().copy(COPY_CHUNKS) as copy:
        copy.set_types(["uuid", "uuid", "uuid", "int4", "text", "int4", "int4", "vector"])
        for position, content, tokens, embedding in rows:
            copy.write_row((kb_uuid, doc_uuid, owner_uuid, position, content, tokens, kb.dimensions,
                            np.asarray(embedding, dtype=np.float32)))
            count += 1
    return count


def delete_chunks(conn: psycopg.Connection, document_id: str) -> None:
    conn.execute("DELETE FROM ai.chunks WHERE document_id = %s", (document_id,))

