"""Migrations and the roles they create, on the real embedded PostgreSQL."""
import threading
import uuid

import psycopg
import pytest
from psycopg import sql

from app.db.migrate import MigrationError, available, migrate
from app.demo.loader import ALICE
from tests.support.database import as_user


def test_migrations_are_recorded_and_idempotent(database, owner_conn):
    rows = owner_conn.execute("select version from ai.schema_migrations order by version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in available()] and rows[0][0] == "0001"
    assert migrate(database) == []


@pytest.fixture
def empty_database(postgres, database):
    """A database of its own on the session's server, with nothing migrated yet (dropped afterwards)."""
    name = f"fluxbase_empty_{uuid.uuid4().hex[:8]}"
    postgres.ensure_database(name)
    try:
        yield database.replace(database_url=postgres.url(name))
    finally:
        with psycopg.connect(postgres.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("drop database {} with (force)").format(sql.Identifier(name)))


def test_concurrent_migrate_calls_are_serialised(empty_database):
    """Four processes starting at once on an empty database: every migration runs exactly once."""
    applied, errors = [], []
    start = threading.Barrier(4)

    def run():
        start.wait()
        try:
            applied.append(migrate(empty_database))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(applied) == 4
    versions = [m.version for m in available()]
    assert sorted(v for batch in applied for v in batch) == versions  # each applied by exactly one call
    with psycopg.connect(empty_database.database_url) as conn:
        recorded = [r[0] for r in conn.execute("select version from ai.schema_migrations order by version")]
    assert recorded == versions


def test_roles_have_least_privilege(owner_conn):
    roles = {r[0]: r[1:] for r in owner_conn.execute(
        "select rolname, rolcanlogin, rolinherit, rolbypassrls, rolsuper from pg_roles "
        "where rolname in ('authenticator','anon','authenticated','service_role')")}
    assert roles["authenticator"] == (True, False, False, False)
    assert roles["anon"][0] is False and roles["authenticated"][0] is False
    assert roles["service_role"] == (False, False, True, False)
    members = {r[0] for r in owner_conn.execute(
        "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
        "join pg_roles u on u.oid = m.member where u.rolname = 'authenticator'")}
    assert members == {"anon", "authenticated"}


def test_authenticator_alone_reads_nothing(database):
    with psycopg.connect(database.authenticator_url) as conn:
        for table in ("public.orders", "ai.schema_migrations", "app.settings", "auth.users"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(f"select * from {table}")


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("table", ["ai.schema_migrations", "app.settings", "auth.users"])
def test_server_tables_are_not_readable_by_end_users(database, role, table):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(database, role, {"sub": ALICE, "role": role}, f"select * from {table}")


def test_end_user_cannot_become_service_role(database):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(database, "service_role", None, "select 1")


def test_database_without_pgvector_gets_a_clear_error(database, owner_conn, monkeypatch):
    # A server without pgvector: emulate by pointing the check at a name that is not available.
    import app.db.migrate as m

    real = m._check_vector

    def fake(conn):
        class Shim:
            def execute(self, sql, params=None):
                return conn.execute(sql.replace("'vector'", "'vector_missing'"), params)
        real(Shim())

    monkeypatch.setattr(m, "_check_vector", fake)
    with pytest.raises(MigrationError, match="no `vector` extension .* install"):
        migrate(database)
