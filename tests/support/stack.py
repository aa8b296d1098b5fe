"""A stack of its own for tests that break things: a worker and a web process on their own Redis
(and, when asked, their own PostgreSQL), so restarting or stopping a service never touches the
session's shared processes."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import redis

from app.db.migrate import migrate
from app.demo.loader import load_demo
from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from app.worker_presence import live_workers
from config import Settings
from tests.support.processes import (
    ManagedProcess,
    free_port,
    serving_web,
    start_worker,
    wait_until,
)


@dataclass
class IsolatedStack:
    web: str
    env: dict[str, str]
    settings: Settings
    redis: EmbeddedRedis
    postgres: EmbeddedPostgres | None
    worker: ManagedProcess
    root: Path

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url, decode_responses=True)


@contextlib.contextmanager
def isolated_stack(base_env: dict[str, str], workdir: Path, name: str, *, own_postgres: bool = False,
                   worker_concurrency: int = 20, env: dict[str, str] | None = None):
    from tests.conftest import sync_test_chatbots

    root = workdir / name
    rd = EmbeddedRedis(root / "redis", free_port())
    pg = EmbeddedPostgres(root / "postgres", free_port()) if own_postgres else None
    worker = None
    try:
        rd.start()
        overrides = {"REDIS_URL": rd.url, "DATA_DIR": str(root / "data"), "CHATBOTS_SYNC_ON_START": "false",
                     **(env or {})}
        if pg is not None:
            pg.start()
            pg.ensure_database("fluxbase_test")
            overrides["DATABASE_URL"] = pg.url("fluxbase_test")
        stack_env = {**base_env, **overrides}
        settings = Settings.from_env(stack_env)
        if pg is not None:
            migrate(settings)
            load_demo(settings)
        sync_test_chatbots(settings)
        worker = start_worker(stack_env, root, f"{name}-worker", concurrency=worker_concurrency)
        client = redis.Redis.from_url(rd.url)
        try:
            wait_until(lambda: not worker.alive() or f"{name}-worker@" in " ".join(live_workers(client)), 60,
                       f"the {name} worker")
        finally:
            client.close()
        assert worker.alive(), worker.log_text()
        with serving_web(stack_env, root) as base:
            yield IsolatedStack(base, stack_env, settings, rd, pg, worker, root)
    finally:
        if worker is not None:
            worker.stop()
        rd.stop()
        if pg is not None:
            pg.stop()
