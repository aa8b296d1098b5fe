"""Knowledge-base ingestion and retrieval (issue 11).

    .venv/bin/python -m bench.ingest                       # defaults below
    .venv/bin/python -m bench.ingest --documents 40 --vectors 100000 --queries 300

1. Ingestion throughput: the same Markdown documents are chunked once and embedded by the raw local
   embedder in this process (chunks/s), then added to a knowledge base and ingested by the real
   embeddings worker (the Procfile's prefork process, concurrency 1, same thread count) from the
   first enqueue to the last `indexed` (chunks/s, chunking, COPY and status writes included).
   Goal: ingestion >= 0.9 of the raw embedder.
2. Retrieval over --vectors chunks of 384 dimensions: `repository.search` (the HNSW path) p50/p95
   latency and recall@5 against exact search (the same query, exact=True) over the same rows.
   The vectors are synthetic (embedding 100,000 real chunks with the local model takes about an
   hour on two cores): by default unit vectors near a 48-dimension subspace (sentence embeddings
   have a low intrinsic dimension); `--data clustered` (1,000 noisy clusters, nearly uniform
   within each) is a much harder case for any graph index. Queries are drawn from the same
   distribution. Goal: p50 <= 10 ms, recall@5 >= 0.95.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg

from app.db.migrate import migrate
from app.jobs import make_celery
from app.knowledge import repository as repo
from app.knowledge.chunking import chunk_text
from app.knowledge.embedders import local_embedder
from app.knowledge.ingest import enqueue_document
from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from bench.stack import percentile
from config import Settings
from tests.support.processes import ROOT, free_port, start_embeddings_worker, wait_until

CHUNK_SIZE, OVERLAP = 200, 30


def corpus(documents: int) -> list[str]:
    """Real prose: the repository's own Markdown, cut into documents of about 12 KB."""
    text = "\n\n".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"])
    size = 12_000
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    return [f"<!-- copy {n} -->\n" + pieces[n % len(pieces)] for n in range(documents)]


def bench_ingestion(settings: Settings, env: dict, root: Path, documents: int) -> None:
    docs = corpus(documents)
    chunks = [c.text for d in docs for c in chunk_text(d, strategy="recursive", size=CHUNK_SIZE, overlap=OVERLAP,
                                                            source="markdown")]
    embedder = local_embedder()
    embedder.embed(chunks[:32])                                  # warm
    started = time.perf_counter()
    embedder.embed(chunks)
    raw = len(chunks) / (time.perf_counter() - started)
    print(f"raw embedder:   {len(chunks)} chunks of <= {CHUNK_SIZE} tokens, {raw:.1f} chunks/s")

    worker = start_embeddings_worker(env, root, "bench-embeddings")
    celery = make_celery(settings)
    try:
        wait_until(lambda: not worker.alive() or " ready." in worker.log_text(), 60, "the embeddings worker")
        with psycopg.connect(settings.database_url) as conn:
            kb = repo.create_kb(conn, namespace="bench", name=f"ingest-{uuid.uuid4().hex[:6]}", description="",
                                embedder="local", model="all-MiniLM-L6-v2", dimensions=384, chunk_size=CHUNK_SIZE,
                                chunk_overlap=OVERLAP, chunking="recursive")
            warm, _ = repo.add_document(conn, kb.id, title="warm-up", content="A first small document.")
            conn.commit()
            enqueue_document(celery, warm.id)                    # loads the model in the worker's child
            wait_until(lambda: _done(conn, [warm.id]), 60, "the warm-up document")
            ids = []
            for n, text in enumerate(docs):
                doc, _ = repo.add_document(conn, kb.id, title=f"doc {n}", content=text, source="markdown")
                ids.append(doc.id)
            conn.commit()
            started = time.perf_counter()
            for doc_id in ids:
                enqueue_document(celery, doc_id)
            wait_until(lambda: _done(conn, ids), 3600, "the documents", interval=0.05)
            elapsed = time.perf_counter() - started
            stored = conn.execute("SELECT sum(chunk_count) FROM ai.documents WHERE id = ANY(%s::uuid[])",
                                  (ids,)).fetchone()[0]
            failed = conn.execute("SELECT count(*) FROM ai.documents WHERE id = ANY(%s::uuid[]) AND status = 'failed'",
                                  (ids,)).fetchone()[0]
        rate = stored / elapsed
        print(f"ingestion:      {len(ids)} documents, {stored} chunks in {elapsed:.1f} s, {rate:.1f} chunks/s "
              f"({failed} failed)")
        print(f"ratio:          {rate / raw:.2f} of the raw embedder (goal >= 0.9)")
    finally:
        celery.close()
        worker.stop()


def _done(conn, ids) -> bool:
    row = conn.execute("SELECT count(*) FROM ai.documents WHERE id = ANY(%s::uuid[]) AND status IN ('indexed', 'failed')",
                       (ids,)).fetchone()
    conn.commit()
    return row[0] == len(ids)


def clustered(n: int, dims: int, rng: np.random.Generator, centres: int = 1000) -> np.ndarray:
    middle = rng.standard_normal((centres, dims)).astype(np.float32)
    vectors = middle[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def low_rank(n: int, dims: int, rng: np.random.Generator, rank: int = 48) -> np.ndarray:
    """Unit vectors near a `rank`-dimensional subspace: sentence embeddings have a low intrinsic
    dimension, which is what makes graph indexes work on them."""
    basis = np.linalg.qr(rng.standard_normal((dims, rank)))[0].T.astype(np.float32)
    latent = rng.standard_normal((n, rank)).astype(np.float32)
    vectors = latent @ basis + 0.05 * rng.standard_normal((n, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def bench_retrieval(settings: Settings, total: int, queries: int, data: str, verbose: bool = False) -> None:
    rng = np.random.default_rng(11)
    make = low_rank if data == "low-rank" else clustered
    everything = make(total + queries, 384, rng)
    vectors, asked = everything[:total], everything[total:]
    with psycopg.connect(settings.database_url) as conn:
        kb = repo.create_kb(conn, namespace="bench", name=f"retrieval-{uuid.uuid4().hex[:6]}", description="",
                            embedder="local", model="all-MiniLM-L6-v2", dimensions=384, chunk_size=200,
                            chunk_overlap=0, chunking="recursive")
        per_doc = 1000
        started = time.perf_counter()
        # Bulk load as a restore would: the index is built once over all rows (minutes faster than
        # inserting 100,000 rows into a live HNSW index), with the same definition as migration 0014's.
        definition = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_hnsw_384'").fetchone()[0]
        conn.execute("DROP INDEX ai.chunks_hnsw_384")
        for start in range(0, total, per_doc):
            doc, _ = repo.add_document(conn, kb.id, title=f"synthetic {start}", content=f"synthetic {kb.id} {start}")
            repo.copy_chunks(conn, kb, doc.id, None, ((i, f"chunk {start + i}", 10, v)
                                                      for i, v in enumerate(vectors[start:start + per_doc])))
            conn.commit()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(definition)
        conn.execute("ANALYZE ai.chunks")
        conn.commit()
        print(f"retrieval:      {total} chunks stored and indexed (HNSW built after the load) in "
              f"{time.perf_counter() - started:.0f} s")
        kb = repo.get_kb(conn, kb.id)
        repo.search(conn, kb, asked[0], user_id=None, limit=5, threshold=-1)    # warm
        latencies, recalls = [], []
        exact_sql = repo.search_sql(384, exact=True)
        for query in asked:
            started = time.perf_counter()
            hits = repo.search(conn, kb, query, user_id=None, limit=5, threshold=-1)
            latencies.append((time.perf_counter() - started) * 1000)
            truth = conn.execute(exact_sql, {"query": query, "kb_id": kb.id, "user_id": None, "limit": 5,
                                             "threshold": -1}).fetchall()
            conn.commit()
            wanted = {row[2] for row in truth}
            recalls.append(len(wanted & {h.content for h in hits}) / len(wanted))
        print(f"search p50:     {percentile(latencies, 50):.2f} ms, p95 {percentile(latencies, 95):.2f} ms "
              f"(goal p50 <= 10 ms) over {queries} queries")
        print(f"recall@5:       {np.mean(recalls):.3f} against exact search (goal >= 0.95)")
        if verbose:
            print(repo.explain_search(conn, kb, asked[0], limit=5, threshold=-1, analyze=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--skip-ingestion", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print one search's EXPLAIN (ANALYZE, BUFFERS)")
    parser.add_argument("--data", choices=("low-rank", "clustered"), default="low-rank",
                        help="synthetic vectors near a 48-dimension subspace, or 1,000 noisy clusters (harder)")
    parser.add_argument("--ef-search", type=int, default=repo.EF_SEARCH, help="hnsw.ef_search for the searches")
    args = parser.parse_args()
    repo.EF_SEARCH = args.ef_search
    root = Path(tempfile.mkdtemp(prefix="fluxbase-bench-kb-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    rd = EmbeddedRedis(root / "redis", free_port())
    try:
        pg.start()
        pg.ensure_database("bench")
        rd.start()
        env = {**os.environ, "DATABASE_URL": pg.url("bench"), "REDIS_URL": rd.url, "DATA_DIR": str(root / "data"),
               "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
        env.pop("OPENAI_API_KEY", None)
        settings = Settings.from_env(env)
        migrate(settings)
        print(f"cpus: {os.cpu_count()}")
        if not args.skip_ingestion:
            bench_ingestion(settings, {**env, "LOG_LEVEL": "INFO"}, root, args.documents)
        bench_retrieval(settings, args.vectors, args.queries, args.data, args.explain)
    finally:
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
