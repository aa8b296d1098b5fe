"""The soak suite (`make soak`): mixed traffic for 10 minutes against ONE web, ONE worker and the embeddings
worker, then the invariants a long run must keep.

    .venv/bin/python -m bench.soak                          # 600 s, 20 sockets
    .venv/bin/python -m bench.soak --seconds 30 --json out.json   # the short version `make test` runs
    make soak SOAK_SECONDS=1800

Each of --sessions sockets is one user (its own id, so per-user limits are not what is measured) following two
conversations: one on a SQL chatbot, one on a chatbot with a knowledge base (indexed by the embeddings worker
before the traffic starts). It loops until the time is up, with a short pause between turns, picking:
a text turn (20 words streamed), a SQL turn (`execute_sql`, then an answer), a RAG turn (the retrieved passages
must reach the prompt), a cancel (a long answer cancelled at its first delta: it must end `cancelled`), and a
reconnect (the socket dropped mid-answer, a new one resumes with `last_seq`: the text must add up exactly).
The scripted LLM (bench/soak_llm.py) answers each kind with a fixed text, so every turn is checked whole.

Reported: per time window, turns by kind, errors, p50/p99 time to first delta and the resident memory of each
process; then the invariants: 0 errors; p99 stable across windows; resident memory growth after the warm-up
under 5%; no Redis key without a TTL (except those meant to be permanent, listed below); no connection leak
(PostgreSQL `pg_stat_activity` by user and application_name, Redis `CLIENT LIST` by name, after the warm-up
vs after the traffic stopped). Exit status 1 when an invariant fails.

The traffic is bench/soak_traffic.py, the checks and the report bench/soak_checks.py, the answers bench/soak_llm.py.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import gevent  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from app.auth.tokens import mint  # noqa: E402
from app.chatbots.sync_service import sync_payload  # noqa: E402
from app.jobs import make_celery  # noqa: E402
from app.knowledge import repository as kb_repo  # noqa: E402
from app.knowledge.ingest import enqueue_document  # noqa: E402
from app.knowledge.records import LOCAL_DIMENSIONS, LOCAL_EMBEDDER, LOCAL_MODEL  # noqa: E402
from bench.soak_checks import (  # noqa: E402
    caps,
    invariants,
    keys_without_ttl,
    memory,
    pg_connections,
    quiet,
    redis_clients,
    table,
)
from bench.soak_traffic import NAMESPACE, TURN_TIMEOUT, Session, Totals  # noqa: E402
from bench.stack import gunicorn_worker_pid, running_stack, summarize_log  # noqa: E402
from tests.support.processes import wait_until  # noqa: E402

LIMITS = (" * @fluxbase:rate-limit 600\n * @fluxbase:daily-limit 100000\n * @fluxbase:token-budget 10000000\n"
          " * @fluxbase:max-turns 100000\n")
SQL_BOT = ("/**\n * Soak SQL\n * @fluxbase:description Soak: SQL turns\n * @fluxbase:allowed-tables products\n"
           " * @fluxbase:allowed-operations SELECT\n" + LIMITS + " */\nexport default `You answer about products.`;\n")
RAG_BOT = ("/**\n * Soak RAG\n * @fluxbase:description Soak: RAG turns\n * @fluxbase:knowledge-base soak-docs\n"
           " * @fluxbase:rag-max-chunks 2\n * @fluxbase:rag-similarity-threshold 0.3\n * @fluxbase:allowed-tables products\n"
           + LIMITS + " */\nexport default `You help customers of a lamp shop.`;\n")
DOCUMENTS = {
    "Returns policy": "You can send a lamp back within 30 days of delivery for a full refund. "
                      "Returned items must be unused and in their original box.",
    "Shipping times": "Orders leave our warehouse within two business days. Delivery inside the EU takes "
                      "three to five days; express delivery arrives the next day.",
    "Care instructions": "Clean the brass desk lamp with a dry cloth. Never use water or solvents on the shade.",
}


# -- setup -------------------------------------------------------------------------------------------

def prepare(stack) -> None:
    settings = stack.settings
    celery = make_celery(settings)
    with psycopg.connect(settings.database_url) as conn:
        kb = kb_repo.create_kb(conn, namespace=NAMESPACE, name="soak-docs", description="Lamp shop documents",
                               embedder=LOCAL_EMBEDDER, model=LOCAL_MODEL, dimensions=LOCAL_DIMENSIONS, chunk_size=200,
                               chunk_overlap=30, chunking="recursive")
        docs = [kb_repo.add_document(conn, kb.id, title=title, content=content, metadata={}, owner_id=None, tags=(),
                                     source="text")[0] for title, content in DOCUMENTS.items()]
        conn.commit()
        for doc in docs:
            enqueue_document(celery, doc.id)

        def indexed() -> bool:
            rows = conn.execute("SELECT status FROM ai.documents WHERE kb_id = %s", (kb.id,)).fetchall()
            conn.commit()
            return all(status in ("indexed", "failed") for (status,) in rows)

        wait_until(indexed, 180, "the soak documents indexed", interval=0.5)
        failed = conn.execute("SELECT count(*) FROM ai.documents WHERE kb_id = %s AND status <> 'indexed'",
                              (kb.id,)).fetchone()[0]
        if failed:
            raise SystemExit(f"bench.soak: {failed} documents failed to index; see the embeddings worker's log")
    celery.close()
    report = sync_payload(settings, namespace=NAMESPACE, chatbots=[{"name": "soak", "code": SQL_BOT},
                                                                   {"name": "soak-rag", "code": RAG_BOT}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors


# -- the run -----------------------------------------------------------------------------------------

def run(options) -> dict:
    window = options.window or max(5.0, options.seconds / 10)
    warmup = options.warmup if options.warmup is not None else max(window, options.seconds / 5)
    with running_stack(worker_concurrency=50, llm_routed_delay=1.0 / options.rate, embeddings=True) as stack:
        prepare(stack)
        rclient = redis.Redis.from_url(stack.settings.redis_url, decode_responses=True)
        pids = {"web": gunicorn_worker_pid(stack.web_process.pid), "worker": stack.worker_process.pid,
                "embeddings": stack.embeddings_process.pid}
        offsets = {name: proc.log_path.stat().st_size for name, proc in
                   (("web", stack.web_process), ("worker", stack.worker_process),
                    ("embeddings", stack.embeddings_process))}
        totals = Totals()
        t0 = time.monotonic()
        deadline = t0 + options.seconds
        sessions = [Session(i, stack, mint(stack.settings.jwt_secret, role="authenticated", user_id=str(uuid.uuid4()),
                                           ttl_seconds=24 * 3600), totals, t0, deadline, options.seed + i)
                    for i in range(options.sessions)]
        print(f"bench.soak: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {options.sessions} sockets "
              f"for {options.seconds:g} s (windows of {window:g} s, warm-up {warmup:g} s)", flush=True)
        greenlets = [gevent.spawn(s.run) for s in sessions]
        samples_at: list[tuple[float, dict[str, int]]] = []
        baseline: dict = {}
        next_sample = t0 + window
        while not all(g.ready() for g in greenlets):
            gevent.joinall(greenlets, timeout=max(0.1, min(next_sample, deadline + TURN_TIMEOUT) - time.monotonic()))
            now = time.monotonic()
            if now >= next_sample and now < deadline + 1:
                rss = memory(pids)
                samples_at.append((now - t0, rss))
                done = [s for s in totals.samples if s.started < now - t0]
                print(f"  {now - t0:6.0f} s: {len(done)} turns, {sum(bool(s.error) for s in done)} errors, "
                      f"RSS " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in rss.items())
                      + f", load {os.getloadavg()[0]:.2f}", flush=True)
                if not baseline and now - t0 >= warmup:
                    baseline = {"at": now - t0, "rss": rss, "pg": pg_connections(stack.settings.database_url),
                                "redis": redis_clients(rclient)}
                next_sample += window
        end_rss = memory(pids)
        quiet(stack.settings.database_url)
        end = {"rss": end_rss, "pg": pg_connections(stack.settings.database_url), "redis": redis_clients(rclient)}
        scanned, permanent, leaking = keys_without_ttl(rclient)
        logs = {name: summarize_log(proc.log_path, offsets[name]).tracebacks for name, proc in
                (("web", stack.web_process), ("worker", stack.worker_process),
                 ("embeddings", stack.embeddings_process))}
        rclient.close()
    return {"options": vars(options), "window": window, "warmup": warmup, "caps": caps(stack.settings),
            "samples": [vars(s) for s in totals.samples], "memory": samples_at, "baseline": baseline, "end": end,
            "redis_keys": {"scanned": scanned, "permanent": permanent, "without_ttl": leaking},
            "tracebacks": logs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600, help="how long the traffic runs (default 600)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sockets, one user each (default 20)")
    parser.add_argument("--rate", type=float, default=50, help="tokens/s of each streamed answer (default 50)")
    parser.add_argument("--window", type=float, help="seconds per reporting window (default: a tenth of the run)")
    parser.add_argument("--warmup", type=float, help="seconds before the baselines are taken (default: a fifth)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the traffic's random choices")
    parser.add_argument("--json", metavar="PATH", help="write the figures there as JSON")
    options = parser.parse_args()
    figures = run(options)
    print("\n=== soak summary")
    for line in table(figures):
        print(line)
    if options.json:
        figures["invariants"] = [{"name": r[0], "goal": r[1], "result": r[2], "ok": r[3]} for r in invariants(figures)]
        with open(options.json, "w") as handle:
            json.dump(figures, handle, indent=2, default=str)
    sys.stdout.flush()
    critical = [r for r in invariants(figures) if not r[0].startswith("p99")]
    if not all(r[3] for r in critical):
        sys.exit(1)


if __name__ == "__main__":
    main()
