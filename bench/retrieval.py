"""Chat-turn latency added by retrieval (issue 11): time to first token of the same question on two
chatbots of the same stack, one linked to a knowledge base and one not; the difference is what
retrieval (the progress event, the local model embedding the query, one search per base, the larger
prompt) adds to a turn.

    .venv/bin/python -m bench.retrieval [--runs 40] [--filler 0]

The base holds the demo shop's documents (app/demo/knowledge, `product-docs` and `faq` merged into
one base), indexed in this process with the local model before the stack serves; `--filler N` adds N
synthetic 384-dimension chunks so the search runs over a larger base (above 2,000 chunks it walks
the HNSW index). Turns alternate between the two chatbots so load on the machine hits both alike.
The embedding runs in the worker's native thread pool (app/knowledge/retrieval.py `off_hub`).
"""
from __future__ import annotations

import argparse
import time
import uuid

import numpy as np
import psycopg

from app.chatbots.sync_service import sync_payload
from app.demo.knowledge import BASES, CHUNKING, demo_documents
from app.knowledge import repository as repo
from app.knowledge.embedders import local_embedder
from app.knowledge.records import LOCAL_DIMENSIONS, LOCAL_EMBEDDER, LOCAL_MODEL
from bench.stack import percentile, running_stack
from tests.support.chat_client import ChatClient
from workers.ingest import ingest_document

QUESTIONS = ["Can I return the coffee I opened?", "How much does shipping cost?", "How do I clean the hand grinder?",
             "Which payment methods do you accept?", "What water temperature for green tea?"]


def _bot(name: str, rag: bool) -> dict:
    lines = (" * @fluxbase:knowledge-base bench-docs\n * @fluxbase:rag-max-chunks 5\n"
             " * @fluxbase:rag-similarity-threshold 0.3\n") if rag else ""
    return {"name": name, "code": ("/**\n * Bench\n * @fluxbase:description Retrieval benchmark\n" + lines +
                                   " * @fluxbase:max-turns 100000\n * @fluxbase:rate-limit 600\n"
                                   " * @fluxbase:daily-limit 100000\n * @fluxbase:token-budget 100000000\n */\n"
                                   "export default `You are a benchmark.`;\n")}


def prepare(settings, filler: int) -> int:
    with psycopg.connect(settings.database_url) as conn:
        kb = repo.create_kb(conn, namespace="bench", name="bench-docs", description="bench",
                            embedder=LOCAL_EMBEDDER, model=LOCAL_MODEL, dimensions=LOCAL_DIMENSIONS, **CHUNKING)
        docs = [repo.add_document(conn, kb.id, title=title, content=text, source="markdown")[0]
                for base in BASES for title, text in demo_documents(base)]
        conn.commit()
        for doc in docs:
            assert ingest_document(conn, doc.id, lambda c, k: local_embedder()).status == "indexed"
        if filler:
            doc, _ = repo.add_document(conn, kb.id, title="filler", content=f"filler {uuid.uuid4()}")
            rng = np.random.default_rng(7)
            vectors = rng.normal(size=(filler, LOCAL_DIMENSIONS)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            repo.copy_chunks(conn, kb, doc.id, None, ((i, f"filler chunk {i}", 8, vectors[i]) for i in range(filler)))
            conn.execute("UPDATE ai.documents SET status = 'indexed', chunk_count = %s WHERE id = %s",
                         (filler, doc.id))
            conn.commit()
        report = sync_payload(settings, namespace="bench", chatbots=[_bot("plain", False), _bot("rag", True)],
                              delete_missing=False, dry_run=False)
        assert not report.errors and not report.warnings, (report.errors, report.warnings)
        return repo.get_kb(conn, kb.id).chunk_count


def ttft(stack, client: ChatClient, conversation: str, question: str) -> float:
    stack.llm.reply_text("first token then more text", chunks=4)
    started = time.perf_counter()
    client.send({"type": "message", "conversation_id": conversation, "content": question})
    client.until(lambda e: e["type"] == "content", timeout=60)
    elapsed = (time.perf_counter() - started) * 1000
    client.until_type("done", timeout=60)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--filler", type=int, default=0)
    args = parser.parse_args()
    with running_stack(worker_concurrency=10) as stack:
        chunks = prepare(stack.settings, args.filler)
        client = ChatClient(stack.web, stack.token)
        conversations = {name: client.start_chat(name, namespace="bench")["conversation_id"] for name in ("plain", "rag")}
        for name in ("plain", "rag"):   # warm-up: imports, pools, the model loading in the worker
            for question in QUESTIONS[:3]:
                ttft(stack, client, conversations[name], question)
        samples: dict[str, list[float]] = {"plain": [], "rag": []}
        for i in range(args.runs):
            question = QUESTIONS[i % len(QUESTIONS)]
            for name in ("plain", "rag"):
                samples[name].append(ttft(stack, client, conversations[name], question))
        client.close()
    plain, rag = percentile(samples["plain"], 50), percentile(samples["rag"], 50)
    print(f"knowledge base: {chunks} chunks, {args.runs} turns per chatbot")
    print(f"TTFT without retrieval   p50 {plain:7.2f} ms  p90 {percentile(samples['plain'], 90):7.2f} ms")
    print(f"TTFT with retrieval      p50 {rag:7.2f} ms  p90 {percentile(samples['rag'], 90):7.2f} ms")
    print(f"added by retrieval       p50 {rag - plain:7.2f} ms")


if __name__ == "__main__":
    main()
