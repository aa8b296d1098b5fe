"""Shared resources of one process (pools, Redis, Celery client), created lazily from Settings."""
from __future__ import annotations

import threading
from functools import cached_property

import redis
from psycopg_pool import ConnectionPool
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from app.db.connect import authenticator_pool, owner_pool
from app.jobs import make_celery
from app.streaming.bus import StreamBus
from config import Settings

# Seconds a caller waits for a free Redis connection before it is an error: a full pool means
# waiting, never a "Too many connections" failure.
REDIS_POOL_WAIT_SECONDS = 20
WEB_REDIS_CONNECTIONS = 64


def short_retry() -> Retry:
    """Ride out a blip (a failover, a dropped connection) without stalling a caller for seconds:
    a turn that cannot publish goes on and reports the loss instead of waiting."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


class Runtime:
    """One per process; nothing connects until first use, so building it has no side effects.

    `redis_connections` sizes the Redis pool for the concurrency the process serves: a worker
    passes its greenlet count (each running turn may publish at the same moment), the web
    process a fixed number (its Redis use per socket is momentary). `db_wait_seconds` is how
    long a caller queues for a PostgreSQL connection: short for the web (an answer in seconds),
    longer for a worker, whose turns should wait their turn rather than fail. `db_fail_fast` (the web):
    while PostgreSQL refuses connections, a caller is answered at once instead of after the wait."""

    def __init__(self, settings: Settings, *, redis_connections: int = WEB_REDIS_CONNECTIONS,
                 client_name: str = "fluxbase", db_wait_seconds: float | None = None,
                 db_session_options: str | None = None, db_fail_fast: bool = False):
        self.settings = settings
        self.db_fail_fast = db_fail_fast
        self.db_wait_seconds = db_wait_seconds or settings.db_acquire_timeout_seconds
        self.db_session_options = db_session_options
        self.redis_connections = redis_connections
        self.client_name = client_name
        self._lock = threading.Lock()

    @cached_property
    def db(self) -> ConnectionPool:
        with self._lock:
            return owner_pool(self.settings, wait_seconds=self.db_wait_seconds, session_options=self.db_session_options,
                              fail_fast=self.db_fail_fast)

    @cached_property
    def user_db(self) -> ConnectionPool:
        with self._lock:
            return authenticator_pool(self.settings, wait_seconds=self.db_wait_seconds, fail_fast=self.db_fail_fast)

    @cached_property
    def redis(self) -> redis.Redis:
        pool = redis.BlockingConnectionPool.from_url(
            self.settings.redis_url, max_connections=self.redis_connections, timeout=REDIS_POOL_WAIT_SECONDS,
            decode_responses=True, health_check_interval=30, socket_connect_timeout=3,
            client_name=self.client_name, retry=short_retry())
        return redis.Redis(connection_pool=pool)

    @cached_property
    def bus(self) -> StreamBus:
        return StreamBus(self.redis, max_events=self.settings.stream_replay_events,
                         ttl_seconds=self.settings.stream_replay_ttl_seconds,
                         replay_result_bytes=self.settings.stream_replay_result_bytes)

    @cached_property
    def celery(self):
        return make_celery(self.settings)

    def close(self) -> None:
        for name in ("db", "user_db"):
            pool = self.__dict__.pop(name, None)
            if pool is not None:
                pool.close()
        client = self.__dict__.pop("redis", None)
        if client is not None:
            client.close()
            client.connection_pool.disconnect()
