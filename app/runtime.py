"""Shared resources of one process (pools, Redis, Celery client), created lazily from Settings."""
from __future__ import annotations

import threading
from functools import cached_property

import redis
from psycopg_pool import ConnectionPool

from app.db.connect import authenticator_pool, owner_pool
from app.streaming.bus import StreamBus
from config import Settings
from workers.celery_app import make_celery


class Runtime:
    """One per process; nothing connects until first use, so building it has no side effects."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()

    @cached_property
    def db(self) -> ConnectionPool:
        with self._lock:
            return owner_pool(self.settings)

    @cached_property
    def user_db(self) -> ConnectionPool:
        with self._lock:
            return authenticator_pool(self.settings)

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.settings.redis_url, decode_responses=True, health_check_interval=30)

    @cached_property
    def bus(self) -> StreamBus:
        return StreamBus(self.redis, max_events=self.settings.stream_replay_events,
                         ttl_seconds=self.settings.stream_replay_ttl_seconds)

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
