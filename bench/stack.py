"""Starts the whole system on free loopback ports for a benchmark, and stops it afterwards."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from app.auth.tokens import mint
from app.chatbots.sync_service import sync_payload
from app.db.migrate import migrate
from app.demo.loader import ALICE, load_demo
from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from config import Settings
from tests.support.llm_server import ScriptedLLM
from tests.support.processes import ROOT, free_port, serving_web, start_worker

BENCH_BOT = """/**
 * Bench Bot
 *
 * @fluxbase:description Benchmark chatbot
 * @fluxbase:allowed-tables products
 * @fluxbase:max-turns 100000
 */
export default `You are a benchmark.`;
"""


@dataclass
class Stack:
    web: str
    settings: Settings
    llm: ScriptedLLM
    token: str


@contextlib.contextmanager
def running_stack(worker_concurrency: int = 100, web_workers: int = 1):
    root = Path(tempfile.mkdtemp(prefix="fluxbase-bench-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg", free_port())
    rd = EmbeddedRedis(root / "redis", free_port())
    llm = ScriptedLLM(api_key="bench-key")
    processes = []
    try:
        pg.start()
        pg.ensure_database("bench")
        rd.start()
        llm.start()
        env = {**os.environ, "DATABASE_URL": pg.url("bench"), "REDIS_URL": rd.url, "DATA_DIR": str(root / "data"),
               "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "bench-key", "OPENAI_MODEL": "bench",
               "LLM_MAX_RETRIES": "0", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
               "CHATBOTS_DIR": str(ROOT / "chatbots")}
        settings = Settings.from_env(env)
        migrate(settings)
        load_demo(settings)
        report = sync_payload(settings, namespace="bench", chatbots=[{"name": "bench", "code": BENCH_BOT}],
                              delete_missing=False, dry_run=False)
        assert not report.errors, report.errors
        worker = start_worker(env, root, "bench-worker", concurrency=worker_concurrency)
        processes.append(worker)
        with serving_web(env, root) as base:
            yield Stack(base, settings, llm, mint(settings.jwt_secret, role="authenticated", user_id=ALICE,
                                                  ttl_seconds=3600))
    finally:
        for proc in processes:
            proc.stop()
        llm.stop()
        rd.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
