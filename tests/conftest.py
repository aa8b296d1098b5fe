"""Session-wide real services: embedded PostgreSQL + pgvector, Redis, a Celery worker, the web app,
and the scripted LLM. All on free loopback ports under a temporary folder, so a developer's
running `make run` is never touched."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from app.db.migrate import migrate
from app.demo.loader import load_demo
from app.services.postgres import EmbeddedPostgres
from app.services.redis_server import EmbeddedRedis
from app.worker_presence import live_workers
from config import SETTINGS, Settings
from tests.support.llm_server import ScriptedLLM
from tests.support.processes import (
    ROOT,
    free_port,
    serving_web,
    start_embeddings_worker,
    start_jobs_worker,
    start_worker,
    wait_until,
)

TEST_SECRET = "test-jwt-secret-0123456789-abcdefghijklmnop"
TEST_SERVICE_KEY = "test-service-key-0123456789-abcdefghijklmnop"


@pytest.fixture(scope="session")
def workdir():
    # Outside /root: the unprivileged postgres user must traverse every parent folder.
    path = Path(tempfile.mkdtemp(prefix="fluxbase-tests-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(workdir):
    server = EmbeddedPostgres(workdir / "postgres", free_port())
    server.start()
    server.ensure_database("fluxbase_test")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(workdir):
    server = EmbeddedRedis(workdir / "redis", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def llm():
    server = ScriptedLLM(api_key="test-llm-key")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_env(workdir, postgres, redis_server, llm) -> dict[str, str]:
    # Every setting the server reads is set here or dropped: a developer's own values never leak in.
    env = {k: v for k, v in os.environ.items() if k not in {s.env for s in SETTINGS}}
    env.update({
        "DATABASE_URL": postgres.url("fluxbase_test"),
        "REDIS_URL": redis_server.url,
        "DATA_DIR": str(workdir / "data"),
        "JWT_SECRET": TEST_SECRET,
        "ENCRYPTION_KEY": "test-encryption-key-0123456789-abcdefghijkl",
        "SERVICE_KEY": TEST_SERVICE_KEY,
        "AUTHENTICATOR_PASSWORD": "authenticator-test-password",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-llm-key",
        "OPENAI_MODEL": "scripted-model",
        "LLM_TIMEOUT_SECONDS": "3",
        "LLM_MAX_RETRIES": "0",
        # Tests open hundreds of conversations and flood sockets on purpose; the limits on both are
        # tested on stacks of their own (tests/e2e/test_request_limits.py).
        "CONVERSATIONS_PER_MINUTE": "100000",
        "WS_FRAMES_PER_SECOND": "10000",
        "CHATBOTS_DIR": str(ROOT / "chatbots"),
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    })
    return env


@pytest.fixture(scope="session")
def settings(base_env) -> Settings:
    return Settings.from_env(base_env)


@pytest.fixture(scope="session")
def database(settings) -> Settings:
    """A migrated database with the demo shop loaded."""
    migrate(settings)
    load_demo(settings)
    return settings


@pytest.fixture
def owner_conn(database):
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def worker(base_env, database, workdir):
    proc = start_worker(base_env, workdir, "worker-main")
    client = redis.Redis.from_url(database.redis_url)
    try:
        wait_until(lambda: not proc.alive() or "worker-main@" in " ".join(live_workers(client)), 60,
                   "the Celery worker")
        assert proc.alive(), proc.log_text()
        yield proc
    finally:
        proc.stop()
        client.close()


@pytest.fixture(scope="session")
def embeddings_worker(base_env, database, workdir):
    """The Procfile's `embeddings` process: document ingestion on the prefork pool."""
    proc = start_embeddings_worker(base_env, workdir, "worker-embeddings")
    try:
        wait_until(lambda: not proc.alive() or "worker-embeddings@" in proc.log_text() and " ready." in proc.log_text(),
                   60, "the embeddings worker")
        assert proc.alive(), proc.log_text()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def jobs_worker(base_env, database, workdir):
    """The Procfile's `jobs` process: submitted jobs on the prefork pool."""
    proc = start_jobs_worker(base_env, workdir, "worker-jobs")
    try:
        wait_until(lambda: not proc.alive() or "worker-jobs@" in proc.log_text() and " ready." in proc.log_text(),
                   60, "the jobs worker")
        assert proc.alive(), proc.log_text()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def web(base_env, database, worker, workdir) -> str:
    """Base URL of the web process (gunicorn + gevent), after /health answered 200."""
    with serving_web(base_env, workdir) as base:
        yield base


ALICE = "a11ce000-0000-4000-8000-000000000001"
BOB = "b0b00000-0000-4000-8000-000000000002"

TEST_CHATBOT = """/**
 * Test Shop Bot
 *
 * @fluxbase:description Shop questions for tests
 * @fluxbase:allowed-tables customers,products,orders,order_items
 * @fluxbase:allowed-operations SELECT
 * @fluxbase:allow-unauthenticated {anon}
 * @fluxbase:max-turns {max_turns}
 * @fluxbase:response-language {language}
 * @fluxbase:rate-limit 600
 * @fluxbase:daily-limit 100000
 * @fluxbase:token-budget 10000000
 */
export default `You answer questions about the shop for user {{{{user_id}}}}.`;
"""


def sync_test_chatbots(settings: Settings) -> str:
    """Chatbots in the `tests` namespace, synced through the real sync service."""
    from app.chatbots.sync_service import sync_payload

    bots = [
        {"name": "shop", "code": TEST_CHATBOT.format(anon="false", max_turns=50, language="auto")},
        {"name": "shop-anon", "code": TEST_CHATBOT.format(anon="true", max_turns=50, language="auto")},
        {"name": "shop-short", "code": TEST_CHATBOT.format(anon="false", max_turns=1, language="auto")},
        {"name": "shop-german", "code": TEST_CHATBOT.format(anon="false", max_turns=50, language="German")},
    ]
    report = sync_payload(settings, namespace="tests", chatbots=bots, delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return "tests"


@pytest.fixture(scope="session")
def test_chatbots(web, database):
    return sync_test_chatbots(database)


def token_for(user_id: str | None, role: str = "authenticated") -> str:
    from app.auth.tokens import mint

    return mint(TEST_SECRET, role=role, user_id=user_id, ttl_seconds=3600)


@pytest.fixture(autouse=True)
def llm_script_is_used(request):
    """Every test that can reach the scripted LLM starts with it empty and must use all it scripted.

    An unused reply (or a request nothing was scripted for) means the code took another path than
    the test believes. The reset afterwards releases any stream still held or stalled, so no answer
    outlives its test."""
    if "llm" not in request.fixturenames:
        yield
        return
    llm = request.getfixturevalue("llm")
    llm.reset()
    try:
        yield
        llm.assert_complete()
    finally:
        llm.reset()


@pytest.fixture
def chat(web, test_chatbots):
    """Open WebSocket clients, closed after the test (before the scripted LLM is checked)."""
    from tests.support.chat_client import ChatClient

    clients = []

    def connect(user_id: str | None = ALICE, role: str = "authenticated", **kwargs):
        token = token_for(user_id, role) if role != "none" else None
        client = ChatClient(web, token, **kwargs)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()
