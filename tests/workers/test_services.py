"""Each worker process reads the provider for every turn: an admin's edit reaches all of them with no restart."""
import psycopg
import pytest

from app.providers import admin
from app.providers.repository import key_box
from workers.services import WorkerServices, worker_runtime


@pytest.fixture
def clean(owner_conn):
    owner_conn.execute("delete from ai.providers")
    yield
    owner_conn.execute("delete from ai.providers")


def test_an_edit_reaches_every_worker_from_its_next_turn(database, clean, llm):
    workers = [WorkerServices(worker_runtime(database)) for _ in range(2)]  # two processes' worth of state
    box = key_box(database.encryption_key)
    try:
        with psycopg.connect(database.database_url, autocommit=True) as conn:
            created = admin.create(conn, box, admin.NewProvider(
                name="shared", provider_type="openai",
                config={"api_key": "k", "base_url": llm.base_url, "model": "before"}))
            first = [w.provider_for(conn, None) for w in workers]
            assert [p.model for p in first] == ["before", "before"]
            assert [w.provider_for(conn, None) for w in workers] == first  # built once per version
            admin.change(conn, box, created.id, admin.ProviderChanges(config={"model": "after"}))
            assert [w.provider_for(conn, None).model for w in workers] == ["after", "after"]
            admin.change(conn, box, created.id, admin.ProviderChanges(enabled=False))
            assert [w.provider_for(conn, None).name for w in workers] == ["config", "config"]  # OPENAI_* again
    finally:
        for worker in workers:
            worker.close()
