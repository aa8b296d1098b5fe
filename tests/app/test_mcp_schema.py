"""The cached schema (app/mcp_schema.py) on real PostgreSQL and Redis: built once per catalog state, rebuilt
after an ALTER, a GRANT or a REVOKE, the fingerprint checked at most every N seconds, and Redis optional."""
import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from app.chat.schema import describe_tables
from app.mcp_schema import FINGERPRINT_KEY, SchemaResources
from app.runtime import short_retry
from app.sql.guard import AccessPolicy
from tests.support.processes import free_port

SCHEMA = "mcp_schema_probe"
POLICY = AccessPolicy.from_config(["*"], [SCHEMA], ["SELECT"])


class CountingConnection:
    """The owner connection, counting the statements sent through it."""

    def __init__(self, conn):
        self.conn = conn
        self.statements: list[str] = []

    def execute(self, query, *args, **kwargs):
        self.statements.append(str(query))
        return self.conn.execute(query, *args, **kwargs)

    def catalog_reads(self) -> int:
        return sum("has_table_privilege" in q for q in self.statements)

    def fingerprints(self) -> int:
        return sum("pg_auth_members" in q for q in self.statements)


@pytest.fixture
def probe(database):
    with psycopg.connect(database.database_url, row_factory=dict_row, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")
        conn.execute(f"create schema {SCHEMA}")
        conn.execute(f"grant usage on schema {SCHEMA} to authenticated, anon")
        conn.execute(f"create table {SCHEMA}.things (id integer primary key, name text)")
        conn.execute(f"grant select on {SCHEMA}.things to authenticated")
        yield CountingConnection(conn)
        conn.execute(f"drop schema if exists {SCHEMA} cascade")


@pytest.fixture
def client(redis_server):
    connection = redis.Redis.from_url(redis_server.url, decode_responses=True)
    connection.delete(FINGERPRINT_KEY)
    yield connection
    connection.delete(FINGERPRINT_KEY)
    connection.close()


def test_the_description_is_built_once_per_catalog_state(probe, client):
    cache = SchemaResources(client, check_seconds=0)
    first = cache.view(probe, POLICY, "authenticated")
    assert first.text == describe_tables(probe.conn, POLICY, "authenticated") == "- things(id integer, name text)"
    assert probe.catalog_reads() == 1  # describe_tables above ran on the bare connection
    for _ in range(3):
        assert cache.view(probe, POLICY, "authenticated") == first
    assert probe.catalog_reads() == 1 and probe.fingerprints() == 4  # only the cheap check, each time
    assert first.as_json()["tables"] == [{"schema": SCHEMA, "name": "things", "columns": [
        {"name": "id", "type": "integer"}, {"name": "name", "type": "text"}]}]


def test_alter_grant_and_revoke_invalidate_it(probe, client):
    cache = SchemaResources(client, check_seconds=0)
    assert cache.text(probe, POLICY, "authenticated") == "- things(id integer, name text)"
    probe.conn.execute(f"alter table {SCHEMA}.things add column price numeric(8,2)")
    assert cache.text(probe, POLICY, "authenticated") == "- things(id integer, name text, price numeric(8,2))"
    assert cache.text(probe, POLICY, "anon") == "(no tables are available)"
    probe.conn.execute(f"grant select on {SCHEMA}.things to anon")
    assert "things(" in cache.text(probe, POLICY, "anon")
    probe.conn.execute(f"revoke select on {SCHEMA}.things from authenticated")
    assert cache.text(probe, POLICY, "authenticated") == "(no tables are available)"
    probe.conn.execute(f"alter table {SCHEMA}.things rename column name to title")
    assert "title text" in cache.text(probe, POLICY, "anon")
    assert probe.catalog_reads() == 6  # one per catalog state and role, none for a repeated read


def test_different_policies_and_roles_have_their_own_entries(probe, client, database):
    cache = SchemaResources(client, check_seconds=0)
    probe.conn.execute(f"create table {SCHEMA}.others (id integer)")
    probe.conn.execute(f"grant select on {SCHEMA}.others to authenticated")
    only_things = AccessPolicy.from_config([f"{SCHEMA}.things"], ["public"], ["SELECT"])
    assert cache.text(probe, only_things, "authenticated") == f"- {SCHEMA}.things(id integer, name text)"
    assert cache.text(probe, POLICY, "authenticated") == "- others(id integer)\n- things(id integer, name text)"


def test_the_fingerprint_is_checked_at_most_every_n_seconds(probe, client):
    cache = SchemaResources(client, check_seconds=30)
    before = cache.text(probe, POLICY, "authenticated")
    assert 0 < client.ttl(FINGERPRINT_KEY) <= 30
    probe.conn.execute(f"alter table {SCHEMA}.things add column late boolean")
    checks = probe.fingerprints()
    assert cache.text(probe, POLICY, "authenticated") == before  # within the interval: the last state
    assert probe.fingerprints() == checks  # no catalog query at all
    client.delete(FINGERPRINT_KEY)  # the interval is over
    assert "late boolean" in cache.text(probe, POLICY, "authenticated")


def test_without_redis_it_describes_from_the_catalog(probe):
    # Retried as the processes' clients retry (app/runtime.py); nothing listens on the port.
    down = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, decode_responses=True,
                       retry=short_retry())
    cache = SchemaResources(down, check_seconds=10)
    assert cache.text(probe, POLICY, "authenticated") == "- things(id integer, name text)"
    probe.conn.execute(f"alter table {SCHEMA}.things add column extra text")
    assert "extra text" in cache.text(probe, POLICY, "authenticated")
