"""The embedded services for a Settings object: which ones apply, and starting/stopping them."""
from __future__ import annotations

from urllib.parse import urlsplit

from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from config import Settings


def embedded_postgres(settings: Settings) -> EmbeddedPostgres | None:
    if not settings.embedded_postgres:
        return None
    return EmbeddedPostgres(settings.data_dir / "postgres", urlsplit(settings.database_url).port)


def embedded_redis(settings: Settings) -> EmbeddedRedis | None:
    if not settings.embedded_redis:
        return None
    return EmbeddedRedis(settings.data_dir / "redis", urlsplit(settings.redis_url).port)


def start_embedded(settings: Settings) -> list[str]:
    started = []
    pg = embedded_postgres(settings)
    if pg is not None:
        pg.start()
        pg.ensure_database(urlsplit(settings.database_url).path.lstrip("/"))
        started.append(f"postgresql {settings.database_url}")
    rd = embedded_redis(settings)
    if rd is not None:
        rd.start()
        started.append(f"redis {settings.redis_url}")
    return started


def stop_embedded(settings: Settings) -> None:
    rd = embedded_redis(settings)
    if rd is not None:
        rd.stop()
    pg = embedded_postgres(settings)
    if pg is not None:
        pg.stop()
