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
    parse: Callable[[str, str], Any]


def _str(_name: str, value: str) -> str:
    return value


def _setting(env: str, default: str | None, help: str, parse: Callable[[str, str], Any] = _str) -> Any:
    """A Settings field read from `env`: its raw default, its help text (the README table) and its parser."""
    return dataclasses.field(metadata={"setting": (env, default, help, parse)})


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigurationError(name, f"must be one of {', '.join(choices)} (got {value!r})")
    return value


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (ROOT / path)


# Each setting is declared once, as a field below; SETTINGS (and the README table) derive from them.
@dataclass(frozen=True)
class Settings:
    env: str = _setting("FLUXBASE_ENV", "development",
            "`development` or `production`. Production refuses generated secrets and embedded services.",
            lambda n, v: _choice(n, v, ("development", "production")))
    database_url: str = _setting("DATABASE_URL", None,
            "PostgreSQL 15+ with the `vector` extension, as the owner of the server's schemas. "
            "Unset: an embedded PostgreSQL 18 + pgvector is used (started by `fluxbase services start`).",
            lambda n, v: parse_url(n, v, ("postgres", "postgresql")))
    authenticator_url: str = _setting("AUTHENTICATOR_URL", None,
            "Connection for end-user SQL, as the `authenticator` role. Unset: DATABASE_URL with the user "
            "replaced by `authenticator` and AUTHENTICATOR_PASSWORD.",
            lambda n, v: parse_url(n, v, ("postgres", "postgresql")))
    authenticator_password: str | None = _setting("AUTHENTICATOR_PASSWORD", None,
            "Password the migrations give the `authenticator` role. Unset in development: generated once "
            "into DATA_DIR.", lambda n, v: parse_secret(n, v, 16))
    redis_url: str = _setting("REDIS_URL", None,
            "Redis 6+ for the Celery broker, the stream bus and limits. Unset: an embedded redis-server.",
            lambda n, v: parse_url(n, v, ("redis", "rediss", "unix")))
    port: int = _setting("PORT", "8080", "HTTP port of the web process.",
            lambda n, v: parse_int(n, v, 1, 65535))
    host: str = _setting("HOST", "127.0.0.1", "Address the web process binds (the Procfile binds 0.0.0.0).", _str)
    web_concurrency: int = _setting("WEB_CONCURRENCY", "2", "Web worker processes (gunicorn `--workers`).",
            lambda n, v: parse_int(n, v, 1, 256))
    web_worker_connections: int = _setting("WEB_WORKER_CONNECTIONS", "10000",
            "Open connections (WebSockets included) each web worker process holds (gunicorn "
            "`--worker-connections`); an idle socket costs about 64 KB, 165 KB when the client negotiates "
            "compression (browsers do).", lambda n, v: parse_int(n, v, 10, 1_000_000))
    mcp_port: int = _setting("MCP_PORT", "8090",
            "HTTP port of the MCP server process (the Procfile's `mcp`; docs/mcp.md); it binds HOST.",
            lambda n, v: parse_int(n, v, 1, 65535))
    jwt_secret: str = _setting("JWT_SECRET", None,
            "HS256 secret for user JWTs, at least 32 bytes. Unset in development: generated once into DATA_DIR.",
            lambda n, v: parse_secret(n, v, 32))
    encryption_key: str = _setting("ENCRYPTION_KEY", None,
            "Key for secrets at rest (provider keys, secret settings), at least 32 bytes. "
            "Unset in development: generated once into DATA_DIR.", lambda n, v: parse_secret(n, v, 32))
    service_key: str = _setting("SERVICE_KEY", None,
            "Key for trusted server-side callers (`X-Service-Key`, `apikey`), at least 32 bytes. "
            "Unset in development: generated once into DATA_DIR.", lambda n, v: parse_secret(n, v, 32))
    data_dir: Path = _setting("DATA_DIR", ".data",
            "Local state: embedded databases, generated development secrets, pid and log files.",
            lambda n, v: _path(v))
    chatbots_dir: Path = _setting("CHATBOTS_DIR", "chatbots", "Directory of chatbot definition files.",
            lambda n, v: _path(v))
    chatbots_sync_on_start: bool = _setting("CHATBOTS_SYNC_ON_START", "true",
            "Sync CHATBOTS_DIR into the database when the web process starts.", parse_bool)
    log_level: str = _setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR.", parse_log_level)
    log_format: str = _setting("LOG_FORMAT", "text",
            "`text` or `json`: one JSON object per line (ts, level, logger, message, and the turn's ids on every "
            "line of a turn; docs/operations.md).", lambda n, v: _choice(n, v, ("text", "json")))
    metrics_dir: Path = _setting("METRICS_DIR", None,
            "Folder where every process of one machine keeps its Prometheus values (prometheus_client's "
            "multiprocess mode); `fluxbase run` empties it at start. Unset: DATA_DIR/metrics.", lambda n, v: _path(v))
    metrics_token: str | None = _setting("METRICS_TOKEN", None,
            "Bearer token that opens `/metrics` to a scraper (at least 32 bytes). Unset: only the service key "
            "opens it.", lambda n, v: parse_secret(n, v, 32))
    proxy_depth: int = _setting("PROXY_DEPTH", "0",
            "Trusted reverse proxies in front of the web process (Heroku's router: 1). The client address is "
            "read that many hops back in X-Forwarded-For; it keys anonymous callers' rate and daily limits.",
            lambda n, v: parse_int(n, v, 0, 10))
    allowed_origins: tuple[str, ...] = _setting("ALLOWED_ORIGINS", "",
            "Comma list of browser origins allowed on the WebSocket and for CORS. Same-origin and, in "
            "development, localhost are always allowed.", parse_csv)
    openai_api_key: str | None = _setting("OPENAI_API_KEY", None,
            "Key of the default OpenAI-compatible provider. Unset: no default provider from the environment.",
            _str)
    openai_base_url: str = _setting("OPENAI_BASE_URL", "https://api.openai.com/v1",
            "Base URL of the default OpenAI-compatible provider.",
            lambda n, v: parse_url(n, v, ("http", "https")))
    openai_model: str = _setting("OPENAI_MODEL", "gpt-4o-mini", "Model of the default provider.", _str)
    ollama_host: str | None = _setting("OLLAMA_HOST", None,
            "Ollama server that `fluxbase setup` (`make run`) registers as the default provider when no "
            "provider is configured (`host:port` or a URL). Unset: localhost:11434 is tried.", _str)
    llm_timeout_seconds: int = _setting("LLM_TIMEOUT_SECONDS", "60",
            "Read timeout on a provider stream; a stream silent for this long fails the turn.",
            lambda n, v: parse_int(n, v, 1, 3600))
    llm_max_retries: int = _setting("LLM_MAX_RETRIES", "2",
            "Retries of a provider request that failed before streaming began (connection errors, 429, 5xx), "
            "within LLM_RETRY_SECONDS. 401/403 and failures after streaming began are never retried.",
            lambda n, v: parse_int(n, v, 0, 10))
    llm_retry_seconds: int = _setting("LLM_RETRY_SECONDS", "20",
            "Time within which a provider request is retried (exponential backoff with jitter, or the "
            "provider's `retry-after`): a wait that would end later is not made and the turn ends with "
            "`PROVIDER_ERROR` (carrying `retry_after` when the provider gave one). A try begun within it may "
            "itself take up to LLM_TIMEOUT_SECONDS.",
            lambda n, v: parse_int(n, v, 0, 600))
    max_tool_rounds: int = _setting("MAX_TOOL_ROUNDS", "5", "Model/tool round trips allowed in one turn.",
            lambda n, v: parse_int(n, v, 1, 50))
    sql_statement_timeout_ms: int = _setting("SQL_STATEMENT_TIMEOUT_MS", "5000",
            "statement_timeout for model-written SQL.", lambda n, v: parse_int(n, v, 100, 600000))
    sql_max_rows: int = _setting("SQL_MAX_ROWS", "1000", "Rows fetched per model-written query.",
            lambda n, v: parse_int(n, v, 1, 100000))
    sql_max_bytes: int = _setting("SQL_MAX_BYTES", "1048576", "Bytes of result data kept per query.",
            lambda n, v: parse_int(n, v, 1024, 64 * 1048576))
    turn_result_bytes: int = _setting("TURN_RESULT_BYTES", "8388608",
            "Bytes of query and tool result data one turn sends to clients; later results arrive without their "
            "rows (`truncated`). The replay buffer keeps less (STREAM_REPLAY_RESULT_BYTES per query result).",
            lambda n, v: parse_int(n, v, 65536, 1024 * 1048576))
    model_sample_rows: int = _setting("MODEL_SAMPLE_ROWS", "5",
            "Rows of a query result shown to the model (the client gets them all).",
            lambda n, v: parse_int(n, v, 0, 100))
    server_allowed_operations: frozenset[str] = _setting("SERVER_ALLOWED_OPERATIONS", "SELECT,INSERT,UPDATE,DELETE",
            "Server-wide cap on SQL operations; a chatbot file can narrow it, never widen it.",
            parse_operations)
    server_max_tokens: int = _setting("SERVER_MAX_TOKENS", "16384", "Cap on any chatbot's max-tokens.",
            lambda n, v: parse_int(n, v, 1, 1_000_000))
    server_max_rate_limit: int = _setting("SERVER_MAX_RATE_LIMIT", "600",
            "Cap on any chatbot's rate-limit (requests per minute).", lambda n, v: parse_int(n, v, 1, 10**6))
    server_max_daily_limit: int = _setting("SERVER_MAX_DAILY_LIMIT", "100000",
            "Cap on any chatbot's daily-limit.", lambda n, v: parse_int(n, v, 1, 10**9))
    server_max_token_budget: int = _setting("SERVER_MAX_TOKEN_BUDGET", "10000000",
            "Cap on any chatbot's daily token-budget.", lambda n, v: parse_int(n, v, 1, 10**12))
    server_allow_unauthenticated: bool = _setting("SERVER_ALLOW_UNAUTHENTICATED", "true",
            "When false, no chatbot may be used anonymously whatever its file says.", parse_bool)
    ws_max_frame_bytes: int = _setting("WS_MAX_FRAME_BYTES", "65536", "Largest client frame accepted.",
            lambda n, v: parse_int(n, v, 1024, 16 * 1048576))
    ws_ping_seconds: int = _setting("WS_PING_SECONDS", "25",
            "Server ping interval on the WebSocket; a client that answers no ping for two intervals is closed.",
            lambda n, v: parse_int(n, v, 1, 300))
    ws_frames_per_second: int = _setting("WS_FRAMES_PER_SECOND", "20",
            "Frames one socket may send per second (bursts of twice that); past it a frame is refused with "
            "RATE_LIMIT_EXCEEDED and `retry_after`, before it costs anything.",
            lambda n, v: parse_int(n, v, 1, 10_000))
    conversations_per_minute: int = _setting("CONVERSATIONS_PER_MINUTE", "30",
            "New conversations one caller may start per minute, across sockets and web processes (resuming "
            "one is not counted); past it `start_chat` gets RATE_LIMIT_EXCEEDED with `retry_after`.",
            lambda n, v: parse_int(n, v, 1, 100_000))
    ephemeral_conversation_grace_seconds: int = _setting("EPHEMERAL_CONVERSATION_GRACE_SECONDS", "300",
            "How long a conversation of a chatbot without `@fluxbase:persist-conversations` outlives the last "
            "socket holding it (or its last turn), for reconnects; then it is gone, messages included "
            "(docs/conversations.md).", lambda n, v: parse_int(n, v, 1, 86_400))
    ws_send_queue: int = _setting("WS_SEND_QUEUE", "2000",
            "Events buffered per socket; a client that falls further behind is closed.",
            lambda n, v: parse_int(n, v, 10, 10**6))
    stream_replay_events: int = _setting("STREAM_REPLAY_EVENTS", "5000",
            "Events kept per conversation for replay after a reconnect.", lambda n, v: parse_int(n, v, 10, 10**6))
    stream_replay_ttl_seconds: int = _setting("STREAM_REPLAY_TTL_SECONDS", "86400",
            "How long a conversation's replay buffer outlives its last event.",
            lambda n, v: parse_int(n, v, 60, 30 * 86400))
    stream_replay_result_bytes: int = _setting("STREAM_REPLAY_RESULT_BYTES", "65536",
            "Bytes of a `query_result`'s rows kept in the replay buffer: live clients get every row, a resume "
            "gets as many whole rows as fit, marked `replay_truncated` with `rows_kept`.",
            lambda n, v: parse_int(n, v, 0, 1024 * 1048576))
    turn_timeout_seconds: int = _setting("TURN_TIMEOUT_SECONDS", "300",
            "Longest a turn may run before it is stopped with an error.", lambda n, v: parse_int(n, v, 10, 3600))
    approval_writes: str = _setting("APPROVAL_WRITES", "policy",
            "`policy`: each chatbot's @fluxbase:approval decides; `ask`: every write (docs/approval.md) waits for "
            "the user's approval, whatever the file says (a file's `deny` still applies).",
            lambda n, v: _choice(n, v, ("policy", "ask")))
    mcp_approval: str = _setting("MCP_APPROVAL", "refuse",
            "What the MCP server does with a call that needs approval (`ask`): `refuse` it, since no chat socket "
            "can ask, or `client`: run it, trusting the MCP client to have asked its user.",
            lambda n, v: _choice(n, v, ("refuse", "client")))
    approval_timeout_seconds: int = _setting("APPROVAL_TIMEOUT_SECONDS", "300",
            "How long a write waits for the user's approval before it expires (not counted against "
            "TURN_TIMEOUT_SECONDS).", lambda n, v: parse_int(n, v, 5, 3600))
    celery_visibility_timeout: int = _setting("CELERY_VISIBILITY_TIMEOUT", "900",
            "Seconds before an unacknowledged turn of a dead worker is redelivered (must exceed "
            "TURN_TIMEOUT_SECONDS).", lambda n, v: parse_int(n, v, 5, 86400))
    worker_concurrency: int = _setting("WORKER_CONCURRENCY", "50", "Greenlets per Celery worker (gevent pool).",
            lambda n, v: parse_int(n, v, 1, 10000))
    embeddings_concurrency: int = _setting("EMBEDDINGS_CONCURRENCY", "1",
            "Processes of the embeddings worker (prefork pool; each embeds documents on up to 4 cores).",
            lambda n, v: parse_int(n, v, 1, 64))
    jobs_concurrency: int = _setting("JOBS_CONCURRENCY", "2",
            "Processes of the jobs worker (prefork pool): background jobs (`submit_job`) that run at once.",
            lambda n, v: parse_int(n, v, 1, 256))
    db_pool_size: int = _setting("DB_POOL_SIZE", "10", "Connections per process and pool.",
            lambda n, v: parse_int(n, v, 1, 1000))
    db_acquire_timeout_seconds: int = _setting("DB_ACQUIRE_TIMEOUT_SECONDS", "5",
            "Longest wait for a database connection (also the connect timeout); past it a request fails with "
            "`SERVICE_UNAVAILABLE` (HTTP 503) instead of hanging.", lambda n, v: parse_int(n, v, 1, 120))
    schema_cache_seconds: int = _setting("SCHEMA_CACHE_SECONDS", "60",
            "How long the table descriptions shown to the model are cached.", lambda n, v: parse_int(n, v, 0, 86400))
    schema_retrieval_min_tables: int = _setting("SCHEMA_RETRIEVAL_MIN_TABLES", "40",
            "A chatbot that may read more tables than this gets only those relevant to the conversation described "
            "in its prompt, and a `describe_table` tool for the rest (docs/schema_retrieval.md). 0: always describe "
            "every table.", lambda n, v: parse_int(n, v, 0, 1_000_000))
    schema_retrieval_max_tables: int = _setting("SCHEMA_RETRIEVAL_MAX_TABLES", "15",
            "Most tables described in a prompt when schema retrieval is on (the conversation's tables, the best "
            "matches and their foreign-key neighbours).", lambda n, v: parse_int(n, v, 1, 500))
    mcp_schema_check_seconds: int = _setting("MCP_SCHEMA_CHECK_SECONDS", "10",
            "Most seconds between two checks of the catalog fingerprint behind the cached schema (MCP "
            "resources, `@fluxbase:use-mcp-schema`): a migration or GRANT shows within this time. 0: every read.",
            lambda n, v: parse_int(n, v, 0, 3600))
    storage_dir: Path = _setting("STORAGE_DIR", None,
            "Root folder of the storage tools' objects (docs/mcp.md). Unset: DATA_DIR/storage.",
            lambda n, v: _path(v))
    storage_max_object_bytes: int = _setting("STORAGE_MAX_OBJECT_BYTES", "10485760",
            "Largest object the storage tools accept in one upload.", lambda n, v: parse_int(n, v, 1, 1024 * 1048576))
    storage_max_user_bytes: int = _setting("STORAGE_MAX_USER_BYTES", "104857600",
            "Bytes of objects one user may hold across all buckets; an upload past it is refused.",
            lambda n, v: parse_int(n, v, 1, 2**50))

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
        if values["storage_dir"] is None:
            values["storage_dir"] = values["data_dir"] / "storage"
        if values["metrics_dir"] is None:
            values["metrics_dir"] = values["data_dir"] / "metrics"
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(env, f.name, default, help, parse)
    for f in dataclasses.fields(Settings) if "setting" in f.metadata
    for env, default, help, parse in [f.metadata["setting"]])


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
