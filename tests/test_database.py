"""Migrations, roles and the demo shop's row-level security, on the real embedded PostgreSQL."""
import json
import threading

import psycopg
import pytest

from app.db.migrate import MigrationError, migrate
from app.demo.loader import ALICE, BOB, DemoAlreadyLoaded, load_demo


def as_user(settings, role, claims, sql, params=()):
    with psycopg.connect(settings.authenticator_url) as conn:
        with conn.transaction():
            conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                         (role, json.dumps(claims) if claims is not None else ""))
            return conn.execute(sql, params).fetchall()


def test_migrations_are_recorded_and_idempotent(database, owner_conn):
    rows = owner_conn.execute("select version from ai.schema_migrations order by version").fetchall()
    assert rows and rows[0][0] == "0001"
    assert migrate(database) == []


def test_concurrent_migrate_calls_are_serialised(database):
    errors = []

    def run():
        try:
            migrate(database)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


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


def test_rls_shows_each_user_only_their_orders(database):
    alice = as_user(database, "authenticated", {"sub": ALICE, "role": "authenticated"}, "select user_id from orders")
    bob = as_user(database, "authenticated", {"sub": BOB, "role": "authenticated"}, "select user_id from orders")
    assert len(alice) == 5 and {str(r[0]) for r in alice} == {ALICE}
    assert len(bob) == 3 and {str(r[0]) for r in bob} == {BOB}


@pytest.mark.parametrize("claims", [None, {}, {"role": "authenticated"}, {"sub": ""}])
def test_missing_identity_fails_closed(database, claims):
    assert as_user(database, "authenticated", claims, "select * from orders") == []
    assert as_user(database, "authenticated", claims, "select auth.uid()") == [(None,)]


def test_anon_sees_products_but_no_orders(database):
    assert len(as_user(database, "anon", {"role": "anon"}, "select * from products")) == 8
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_user(database, "anon", {"role": "anon"}, "select * from orders")


def test_rls_is_forced_on_user_tables(owner_conn):
    rows = owner_conn.execute("select relname from pg_class where relnamespace = 'public'::regnamespace "
                              "and relkind = 'r' and not (relrowsecurity and relforcerowsecurity)").fetchall()
    assert rows == []


def test_demo_load_refuses_a_database_that_has_it(database):
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(database)


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
