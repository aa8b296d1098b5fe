"""Every setting the server reads, declared as data, read from the environment once.

`Settings.from_env()` is the only place the environment is read. Each process calls it at
start-up and passes the result down; nothing reads `os.environ` at import time.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from config.parsers import (
    ConfigurationError,
    parse_bool,
    parse_csv,
    parse_int,
    parse_log_level,
    parse_operations,
    parse_secret,
    parse_url,
)

ROOT = Path(__file__).resolve().parent.parent

EMBEDDED_PG_PORT = 54329
EMBEDDED_REDIS_PORT = 63799


@dataclass(frozen=True)
class Setting:
    env: str
    field: str
    default: str | None
    help: str
    parse: Callable[[str, str], Any] = lambda _name, v: v


def _str(_name: str, value: str) -> str:
    return value


# The one table of settings. docs/configuration.md is generated from it and a test checks both agree.
SETTINGS: tuple[Setting, ...] = (
    Setting("FLUXBASE_ENV", "env", "development",
            "`development` or `production`. Production refuses generated secrets and embedded services.",
            lambda n, v: _choice(n, v, ("development", "production"))),
    Setting("DATABASE_URL", "database_url", None,
            "PostgreSQL 15+ with the `vector` extension, as the owner of the server's schemas. "
            "Unset: an embedded PostgreSQL 18 + pgvector is used (started by `fluxbase services start`).",
            lambda n, v: parse_url(n, v, ("postgres", "postgresql"))),
    Setting("AUTHENTICATOR_URL", "authenticator_url", None,
            "Connection for end-user SQL, as the `authenticator` role. Unset: DATABASE_URL with the user "
            "replaced by `authenticator` and AUTHENTICATOR_PASSWORD.",
            lambda n, v: parse_url(n, v, ("postgres", "postgresql"))),
    Setting("AUTHENTICATOR_PASSWORD", "authenticator_password", None,
            "Password the migrations give the `authenticator` role. Unset in development: generated once "
            "into DATA_DIR.", lambda n, v: parse_secret(n, v, 16)),
    Setting("REDIS_URL", "redis_url", None,
            "Redis 6+ for the Celery broker, the stream bus and limits. Unset: an embedded redis-server.",
            lambda n, v: parse_url(n, v, ("redis", "rediss", "unix"))),
    Setting("PORT", "port", "8080", "HTTP port of the web process.",
            lambda n, v: parse_int(n, v, 1, 65535)),
    Setting("HOST", "host", "127.0.0.1", "Address the web process binds (the Procfile binds 0.0.0.0).", _str),
    Setting("JWT_SECRET", "jwt_secret", None,
            "HS256 secret for user JWTs, at least 32 bytes. Unset in development: generated once into DATA_DIR.",
            lambda n, v: parse_secret(n, v, 32)),
    Setting("ENCRYPTION_KEY", "encryption_key", None,
            "Key for secrets at rest (provider keys, secret settings), at least 32 bytes. "
            "Unset in development: generated once into DATA_DIR.", lambda n, v: parse_secret(n, v, 32)),
    Setting("SERVICE_KEY", "service_key", None,
            "Key for trusted server-side callers (`X-Service-Key`, `apikey`), at least 32 bytes. "
            "Unset in development: generated once into DATA_DIR.", lambda n, v: parse_secret(n, v, 32)),
    Setting("DATA_DIR", "data_dir", ".data",
            "Local state: embedded databases, generated development secrets, pid and log files.",
            lambda n, v: _path(v)),
    Setting("CHATBOTS_DIR", "chatbots_dir", "chatbots", "Directory of chatbot definition files.",
            lambda n, v: _path(v)),
    Setting("CHATBOTS_SYNC_ON_START", "chatbots_sync_on_start", "true",
            "Sync CHATBOTS_DIR into the database when the web process starts.", parse_bool),
    Setting("LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR.", parse_log_level),
    Setting("ALLOWED_ORIGINS", "allowed_origins", "",
            "Comma list of browser origins allowed on the WebSocket and for CORS. Same-origin and, in "
            "development, localhost are always allowed.", parse_csv),
    Setting("OPENAI_API_KEY", "openai_api_key", None,
            "Key of the default OpenAI-compatible provider. Unset: no default provider from the environment.",
            _str),
    Setting("OPENAI_BASE_URL", "openai_base_url", "https://api.openai.com/v1",
            "Base URL of the default OpenAI-compatible provider.",
            lambda n, v: parse_url(n, v, ("http", "https"))),
    Setting("OPENAI_MODEL", "openai_model", "gpt-4o-mini", "Model of the default provider.", _str),
    Setting("LLM_TIMEOUT_SECONDS", "llm_timeout_seconds", "60",
            "Read timeout on a provider stream; a stream silent for this long fails the turn.",
            lambda n, v: parse_int(n, v, 1, 3600)),
    Setting("LLM_MAX_RETRIES", "llm_max_retries", "2",
            "Retries of a provider request that failed before streaming began (connection errors, 429, 5xx).",
            lambda n, v: parse_int(n, v, 0, 10)),
    Setting("MAX_TOOL_ROUNDS", "max_tool_rounds", "5", "Model/tool round trips allowed in one turn.",
            lambda n, v: parse_int(n, v, 1, 50)),
    Setting("SQL_STATEMENT_TIMEOUT_MS", "sql_statement_timeout_ms", "5000",
            "statement_timeout for model-written SQL.", lambda n, v: parse_int(n, v, 100, 600000)),
    Setting("SQL_MAX_ROWS", "sql_max_rows", "1000", "Rows fetched per model-written query.",
            lambda n, v: parse_int(n, v, 1, 100000)),
    Setting("SQL_MAX_BYTES", "sql_max_bytes", "1048576", "Bytes of result data kept per query.",
            lambda n, v: parse_int(n, v, 1024, 64 * 1048576)),
    Setting("MODEL_SAMPLE_ROWS", "model_sample_rows", "5",
            "Rows of a query result shown to the model (the client gets them all).",
            lambda n, v: parse_int(n, v, 0, 100)),
    Setting("SERVER_ALLOWED_OPERATIONS", "server_allowed_operations", "SELECT,INSERT,UPDATE,DELETE",
            "Server-wide cap on SQL operations; a chatbot file can narrow it, never widen it.",
            parse_operations),
    Setting("SERVER_MAX_TOKENS", "server_max_tokens", "16384", "Cap on any chatbot's max-tokens.",
            lambda n, v: parse_int(n, v, 1, 1_000_000)),
    Setting("SERVER_MAX_RATE_LIMIT", "server_max_rate_limit", "600",
            "Cap on any chatbot's rate-limit (requests per minute).", lambda n, v: parse_int(n, v, 1, 10**6)),
    Setting("SERVER_MAX_DAILY_LIMIT", "server_max_daily_limit", "100000",
            "Cap on any chatbot's daily-limit.", lambda n, v: parse_int(n, v, 1, 10**9)),
    Setting("SERVER_MAX_TOKEN_BUDGET", "server_max_token_budget", "10000000",
            "Cap on any chatbot's daily token-budget.", lambda n, v: parse_int(n, v, 1, 10**12)),
    Setting("SERVER_ALLOW_UNAUTHENTICATED", "server_allow_unauthenticated", "true",
            "When false, no chatbot may be used anonymously whatever its file says.", parse_bool),
    Setting("WS_MAX_FRAME_BYTES", "ws_max_frame_bytes", "65536", "Largest client frame accepted.",
            lambda n, v: parse_int(n, v, 1024, 16 * 1048576)),
    Setting("WS_PING_SECONDS", "ws_ping_seconds", "25",
            "Server ping interval on the WebSocket; a client that answers no ping for two intervals is closed.",
            lambda n, v: parse_int(n, v, 1, 300)),
    Setting("WS_SEND_QUEUE", "ws_send_queue", "2000",
            "Events buffered per socket; a client that falls further behind is closed.",
            lambda n, v: parse_int(n, v, 10, 10**6)),
    Setting("STREAM_REPLAY_EVENTS", "stream_replay_events", "5000",
            "Events kept per conversation for replay after a reconnect.", lambda n, v: parse_int(n, v, 10, 10**6)),
    Setting("STREAM_REPLAY_TTL_SECONDS", "stream_replay_ttl_seconds", "86400",
            "How long a conversation's replay buffer outlives its last event.",
            lambda n, v: parse_int(n, v, 60, 30 * 86400)),
    Setting("TURN_TIMEOUT_SECONDS", "turn_timeout_seconds", "300",
            "Longest a turn may run before it is stopped with an error.", lambda n, v: parse_int(n, v, 10, 3600)),
    Setting("CELERY_VISIBILITY_TIMEOUT", "celery_visibility_timeout", "900",
            "Seconds before an unacknowledged turn of a dead worker is redelivered (must exceed "
            "TURN_TIMEOUT_SECONDS).", lambda n, v: parse_int(n, v, 5, 86400)),
    Setting("WORKER_CONCURRENCY", "worker_concurrency", "50", "Greenlets per Celery worker (gevent pool).",
            lambda n, v: parse_int(n, v, 1, 10000)),
    Setting("DB_POOL_SIZE", "db_pool_size", "10", "Connections per process and pool.",
            lambda n, v: parse_int(n, v, 1, 1000)),
    Setting("SCHEMA_CACHE_SECONDS", "schema_cache_seconds", "60",
            "How long the table descriptions shown to the model are cached.", lambda n, v: parse_int(n, v, 0, 86400)),
)


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigurationError(name, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (ROOT / path)


_FIELDS = {s.field: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    authenticator_url: str
    authenticator_password: str | None
    redis_url: str
    port: int
    host: str
    jwt_secret: str
    encryption_key: str
    service_key: str
    data_dir: Path
    chatbots_dir: Path
    chatbots_sync_on_start: bool
    log_level: str
    allowed_origins: tuple[str, ...]
    openai_api_key: str | None
    openai_base_url: str
    openai_model: str
    llm_timeout_seconds: int
    llm_max_retries: int
    max_tool_rounds: int
    sql_statement_timeout_ms: int
    sql_max_rows: int
    sql_max_bytes: int
    model_sample_rows: int
    server_allowed_operations: frozenset[str]
    server_max_tokens: int
    server_max_rate_limit: int
    server_max_daily_limit: int
    server_max_token_budget: int
    server_allow_unauthenticated: bool
    ws_max_frame_bytes: int
    ws_ping_seconds: int
    ws_send_queue: int
    stream_replay_events: int
    stream_replay_ttl_seconds: int
    turn_timeout_seconds: int
    celery_visibility_timeout: int
    worker_concurrency: int
    db_pool_size: int
    schema_cache_seconds: int
    embedded_postgres: bool = False
    embedded_redis: bool = False

    @property
    def production(self) -> bool:
        return self.env == "production"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is not None and raw.strip() == "":
                raw = None
            if raw is None:
                raw = setting.default
            values[setting.field] = None if raw is None else setting.parse(setting.env, raw.strip())
        values.update(overrides)
        _fill_embedded_and_secrets(values)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _fill_embedded_and_secrets(values: dict[str, Any]) -> None:
    production = values["env"] == "production"
    data_dir: Path = values["data_dir"]
    if values["database_url"] is None:
        if production:
            raise ConfigurationError("DATABASE_URL", "is required in production")
        values["embedded_postgres"] = True
        values["database_url"] = f"postgresql://postgres@127.0.0.1:{EMBEDDED_PG_PORT}/fluxbase"
    if values["redis_url"] is None:
        if production:
            raise ConfigurationError("REDIS_URL", "is required in production")
        values["embedded_redis"] = True
        values["redis_url"] = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    for env, field, size in (("JWT_SECRET", "jwt_secret", 48), ("ENCRYPTION_KEY", "encryption_key", 48),
                             ("SERVICE_KEY", "service_key", 48),
                             ("AUTHENTICATOR_PASSWORD", "authenticator_password", 24)):
        if values[field] is None:
            if production:
                raise ConfigurationError(env, "is required in production")
            values[field] = _development_secret(data_dir, env, size)
    if values["authenticator_url"] is None:
        values["authenticator_url"] = _authenticator_url(values["database_url"], values["authenticator_password"])


def _authenticator_url(database_url: str, password: str) -> str:
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"authenticator:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _development_secret(data_dir: Path, name: str, size: int) -> str:
    """Generate a development secret once and keep it, so every process agrees on it.

    Written to a private temporary file and hard-linked into place: link() fails when another
    process won the race, and then its complete value is read instead.
    """
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if path.exists():
        return path.read_text().strip()
    tmp = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(size))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
