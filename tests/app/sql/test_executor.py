"""The SQL executor on the real embedded PostgreSQL, with no guard in front of it.

What the database layer alone enforces (proven below): the end user's role and claims (RLS),
READ ONLY unless writes are allowed, one statement per run (extended protocol), a statement
timeout, row and byte caps, cancellation, a pooled connection that comes back exactly as it
was at login whatever the statement did to its session, and no identity change inside a
statement (`set_config` is revoked from end-user roles by migration 0005, so rewriting
request.jwt.claims or the role mid-statement is refused).

What the database layer alone CANNOT stop; that is the guard's job (app/sql/guard.py), so never
remove the guard on the strength of these tests:
- a SECURITY DEFINER function, or a view without `security_invoker`, runs with its owner's rights
  and bypasses the caller's RLS;
- `database_to_xml` and friends dump whatever their internal queries can reach;
- `NOTIFY`, `SET`, `LISTEN`, session advisory locks and `LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`
  run even in a READ ONLY transaction. Their effects are undone afterwards by the rollback and the
  session reset, not prevented: a `DO` block that locks a table and then sleeps blocks every other
  user of that table until the statement timeout;
- a single huge value (`repeat('x', 500000000)`) is received whole before the byte cap drops it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from decimal import Decimal

import psycopg
import pytest

from app.db.connect import authenticator_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import CancelToken, ExecutorUnavailable, QueryFailed, SqlExecutor
from app.sql.results import row_size, summarize
from tests.support.processes import wait_until

ALICE_CLAIMS = {"sub": ALICE, "role": "authenticated"}
BOB_CLAIMS = {"sub": BOB, "role": "authenticated"}
SHOP = ("orders", "products", "customers", "order_items", "locations")


@pytest.fixture(scope="module")
def pool(database):
    """The production pool builder, forced to one connection: every run uses the same session."""
    pool = authenticator_pool(dataclasses.replace(database, db_pool_size=1))
    yield pool
    pool.close()


@pytest.fixture
def executor(pool):
    return SqlExecutor(pool, statement_timeout_ms=3000, max_rows=1000, max_bytes=1 << 20, acquire_timeout_s=5)


def as_alice(executor, sql, **kwargs):
    return executor.run(sql, role="authenticated", claims=ALICE_CLAIMS, **kwargs)


def shop_snapshot(owner_conn) -> dict:
    counts = {t: owner_conn.execute(f"select count(*) from public.{t}").fetchone()[0] for t in SHOP}
    counts["tables"] = owner_conn.execute(
        "select count(*) from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'").fetchone()[0]
    counts["unforced_rls"] = owner_conn.execute(
        "select count(*) from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' "
        "and not (relrowsecurity and relforcerowsecurity)").fetchone()[0]
    counts["anon_grants"] = owner_conn.execute(
        "select count(*) from information_schema.role_table_grants where grantee = 'anon'").fetchone()[0]
    return counts


_STATE_SQL = """
select pg_backend_pid(), current_user::text, session_user::text,
       nullif(current_setting('request.jwt.claims', true), ''),
       nullif(current_setting('x.leak', true), ''),
       (select count(*) from pg_locks where pid = pg_backend_pid()
         and (locktype = 'advisory' or relation = 'public.orders'::regclass)),
       (select count(*) from pg_listening_channels()),
       (select count(*) from pg_prepared_statements),
       (select count(*) from pg_cursors),
       (select coalesce(jsonb_object_agg(name, setting), '{}') from pg_settings where setting is distinct from reset_val),
       current_setting('search_path')
"""


def session_state(conn) -> dict:
    row = conn.execute(_STATE_SQL).fetchone()
    conn.rollback()
    keys = ("pid", "current_user", "session_user", "claims", "custom_setting", "locks",
            "listening", "prepared", "cursors", "changed_settings", "search_path")
    return dict(zip(keys, row))


@pytest.fixture(scope="module")
def login_state(database) -> dict:
    """What a brand-new authenticator session looks like."""
    with psycopg.connect(database.authenticator_url) as conn:
        state = session_state(conn)
    assert state["current_user"] == "authenticator" and state["claims"] is None
    return state


def assert_clean(pool, login_state, pid=None) -> None:
    with pool.connection() as conn:
        state = session_state(conn)
    if pid is not None:
        assert state["pid"] == pid, "the pool handed out another connection: the test would prove nothing"
    assert state["current_user"] == state["session_user"] == "authenticator"
    assert state["claims"] is None and state["custom_setting"] is None
    assert (state["locks"], state["listening"], state["prepared"], state["cursors"]) == (0, 0, 0, 0)
    # Settings that differ from their session default, compared with a fresh login's.
    assert state["changed_settings"] == login_state["changed_settings"]
    assert state["search_path"] == login_state["search_path"] == '"$user", public'


def backend_pid(executor) -> int:
    return as_alice(executor, "select pg_backend_pid() as pid").rows[0]["pid"]


# -- identity and row-level security ------------------------------------------------------------

@pytest.mark.parametrize("claims, expected", [(ALICE_CLAIMS, {ALICE: 5}), (BOB_CLAIMS, {BOB: 3})])
def test_each_user_sees_only_their_orders(executor, pool, login_state, claims, expected):
    pid = backend_pid(executor)
    result = executor.run("SELECT * FROM orders", role="authenticated", claims=claims)
    owners = {}
    for row in result.rows:
        owners[row["user_id"]] = owners.get(row["user_id"], 0) + 1
    assert owners == expected and result.row_count == sum(expected.values())
    assert result.command == "SELECT" and not result.truncated
    assert result.columns[:2] == ["id", "user_id"]
    assert_clean(pool, login_state, pid)


def test_anon_reads_products_but_not_orders(executor):
    assert executor.run("select * from products", role="anon", claims={"role": "anon"}).row_count == 8
    with pytest.raises(QueryFailed) as info:
        executor.run("select * from orders", role="anon", claims={"role": "anon"})
    assert (info.value.reason, info.value.code) == ("Permission denied", "permission_denied")


@pytest.mark.parametrize("claims", [{}, {"role": "authenticated"}, {"sub": ""}])
def test_missing_subject_sees_no_orders(executor, claims):
    assert executor.run("select * from orders", role="authenticated", claims=claims).rows == []


@pytest.mark.parametrize("role", ["service_role", "postgres", "authenticator", "Authenticated",
                                  "authenticated; reset role", ""])
def test_only_end_user_roles_are_accepted_before_touching_the_database(role):
    class UntouchablePool:
        def getconn(self, *args, **kwargs):
            raise AssertionError("the pool must not be used")

    executor = SqlExecutor(UntouchablePool(), statement_timeout_ms=1000, max_rows=10, max_bytes=1000)
    with pytest.raises(ValueError):
        executor.run("select 1", role=role, claims={})


def test_search_path_is_pinned_with_a_quoted_schema(executor):
    result = executor.run("select current_setting('search_path') as p", role="anon", claims={},
                          search_path_schema='we"ird')
    assert result.rows == [{"p": 'pg_catalog, "we""ird", pg_temp'}]


# -- caps ---------------------------------------------------------------------------------------

def test_row_cap_truncates_only_beyond_the_limit(pool):
    executor = SqlExecutor(pool, statement_timeout_ms=3000, max_rows=8, max_bytes=1 << 20)
    exact = executor.run("select * from products", role="anon", claims={})
    assert (exact.row_count, exact.truncated) == (8, False)
    over = executor.run("select g from generate_series(1, 9) g", role="anon", claims={})
    assert (over.row_count, over.truncated, over.truncated_by) == (8, True, "rows")
    assert [r["g"] for r in over.rows] == list(range(1, 9))


def test_a_million_rows_stop_fast_at_the_row_cap(executor, pool, login_state):
    pid = backend_pid(executor)
    started = time.monotonic()
    result = executor.run("select g, md5(g::text) as h from generate_series(1, 1000000) g", role="anon", claims={})
    assert time.monotonic() - started < 2.0
    assert (len(result.rows), result.truncated, result.truncated_by) == (1000, True, "rows")
    assert result.rows[-1]["g"] == 1000
    assert_clean(pool, login_state, pid)


def test_byte_cap_truncates(pool):
    executor = SqlExecutor(pool, statement_timeout_ms=3000, max_rows=1000, max_bytes=2000)
    result = executor.run("select repeat('x', 100) as r from generate_series(1, 1000)", role="anon", claims={})
    assert result.truncated and result.truncated_by == "bytes"
    assert 0 < len(result.rows) < 20
    assert sum(row_size(r) for r in result.rows) <= 2000


def test_statement_timeout(pool):
    executor = SqlExecutor(pool, statement_timeout_ms=200, max_rows=10, max_bytes=10000)
    started = time.monotonic()
    with pytest.raises(QueryFailed) as info:
        executor.run("select pg_sleep(5)", role="anon", claims={})
    assert (info.value.reason, info.value.code) == ("Query timed out", "timeout")
    assert time.monotonic() - started < 2.0


# -- cancellation -------------------------------------------------------------------------------

def test_cancel_token_stops_a_running_statement(executor, pool, login_state, owner_conn):
    pid = backend_pid(executor)
    token = CancelToken()
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = as_alice(executor, "select pg_sleep(10)", cancel=token)
        except Exception as exc:  # examined below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: owner_conn.execute(
        "select 1 from pg_stat_activity where pid = %s and state = 'active' and query like '%%pg_sleep(10)%%'",
        (pid,)).fetchone(), 5, "the statement to start")
    started = time.monotonic()
    token.cancel()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2.0
    error = outcome.get("error")
    assert isinstance(error, QueryFailed) and (error.reason, error.code) == ("Query cancelled", "cancelled")
    assert token.cancelled and token.wait(0)
    assert_clean(pool, login_state, pid)
    assert as_alice(executor, "select 1 as one").rows == [{"one": 1}]


def test_cancelled_token_runs_nothing(executor):
    token = CancelToken()
    token.cancel()
    with pytest.raises(QueryFailed, match="Query cancelled"):
        as_alice(executor, "select 1", cancel=token)


def test_cancel_token_waits_with_a_deadline():
    token = CancelToken()
    assert token.wait(0.01) is False and not token.cancelled
    threading.Thread(target=token.cancel).start()
    assert token.wait(5) is True


# -- the database layer alone, with no guard ----------------------------------------------------

WRITES_AND_IDENTITY_CHANGES = [
    ("INSERT INTO orders (total) VALUES (1)", "read_only"),
    ("UPDATE orders SET total = 0", "read_only"),
    ("DELETE FROM orders", "read_only"),
    ("WITH d AS (DELETE FROM orders RETURNING id) SELECT count(*) FROM d", "read_only"),
    ("CREATE TABLE evil (x int)", "read_only"),
    ("DROP TABLE orders", "read_only"),
    ("TRUNCATE orders", "read_only"),
    ("GRANT SELECT ON orders TO anon", "read_only"),
    ("ALTER TABLE orders DISABLE ROW LEVEL SECURITY", "read_only"),
    ("ALTER ROLE authenticated BYPASSRLS", "read_only"),
    ("CREATE TEMP TABLE t (x int)", "read_only"),
    ("SELECT * INTO stolen FROM orders", "read_only"),
    ("DO $$ BEGIN DELETE FROM orders; END $$", "read_only"),
    ("COPY (SELECT 1) TO PROGRAM 'id'", "permission_denied"),
    ("COPY orders TO '/tmp/orders.csv'", "permission_denied"),
    ("SELECT lo_import('/etc/passwd')", "permission_denied"),
    ("SELECT nextval('orders_id_seq')", "read_only"),
    ("SELECT * FROM orders FOR UPDATE", "read_only"),
    ("SET ROLE service_role", "permission_denied"),
    ("SET ROLE postgres", "permission_denied"),
    ("SET SESSION AUTHORIZATION postgres", "permission_denied"),
    ("SELECT set_config('role', 'service_role', false)", "permission_denied"),
    ("SELECT 1; DROP TABLE orders", "query_error"),
    ("COMMIT; DELETE FROM orders", "query_error"),
    ("SET TRANSACTION READ WRITE", "query_error"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "permission_denied"),
    ("select set_config('request.jwt.claims', '{\"sub\": \"" + BOB + "\"}', true), * from orders", "permission_denied"),
    ("select set_config('role', 'authenticated', true), * from orders", "permission_denied"),
]


@pytest.mark.parametrize("sql, code", WRITES_AND_IDENTITY_CHANGES, ids=[s for s, _ in WRITES_AND_IDENTITY_CHANGES])
def test_database_layer_alone_refuses_writes_and_identity_changes(executor, pool, login_state, owner_conn, sql, code):
    before = shop_snapshot(owner_conn)
    pid = backend_pid(executor)
    with pytest.raises(QueryFailed) as info:
        as_alice(executor, sql)
    assert info.value.code == code, info.value.reason
    assert shop_snapshot(owner_conn) == before
    assert_clean(pool, login_state, pid)
    assert as_alice(executor, "select count(*) as n from orders").rows == [{"n": 5}]


def test_read_only_refusal_names_the_operation(executor):
    with pytest.raises(QueryFailed) as info:
        as_alice(executor, "DELETE FROM orders")
    assert info.value.reason == "Operation not allowed: DELETE"


def test_other_errors_carry_only_the_primary_message(executor):
    with pytest.raises(QueryFailed) as info:
        as_alice(executor, "select * from no_such_table")
    assert info.value.reason == 'Query failed: relation "no_such_table" does not exist'
    with pytest.raises(QueryFailed, match="^Query failed: empty statement$"):
        as_alice(executor, "-- nothing")
    with pytest.raises(QueryFailed, match="parameters"):
        as_alice(executor, "select $1")
    # libpq would send only the text before the NUL: a different statement from the one checked.
    with pytest.raises(QueryFailed, match="NUL"):
        as_alice(executor, "select 1 where true\x00 and false")


def test_resetting_the_role_inside_a_statement_reveals_nothing(executor, pool, login_state):
    pid = backend_pid(executor)
    with pytest.raises(QueryFailed) as info:   # set_config is revoked from end-user roles
        as_alice(executor, "select set_config('role', 'none', false) as r, (select count(*) from orders) as n")
    assert info.value.reason == "Permission denied"
    assert_clean(pool, login_state, pid)
    as_alice(executor, "RESET ROLE")
    assert as_alice(executor, "select count(*) as n from orders").rows == [{"n": 5}]


def test_db_layer_alone_refuses_claims_spoofing(executor):
    """`set_config` inside a statement could rewrite the claims RLS reads for the rest of that
    statement (Alice reading Bob's orders). Migration 0005 revokes it from end-user roles."""
    spoof = ("select o.user_id from (select set_config('request.jwt.claims', %s, true)) s, orders o"
             % ("'" + json.dumps(BOB_CLAIMS) + "'"))
    with pytest.raises(QueryFailed) as info:
        as_alice(executor, spoof)
    assert info.value.reason == "Permission denied"
    assert {r["user_id"] for r in as_alice(executor, "select user_id from orders").rows} == {ALICE}


# -- session state never survives a run ---------------------------------------------------------

SESSION_CHANGES = [
    ("SET search_path TO x", False),
    ("SELECT set_config('search_path', 'x', false)", False),
    ("SELECT set_config('statement_timeout', '0', false)", False),
    ("SELECT set_config('x.leak', 'y', false)", False),
    ("SELECT set_config('request.jwt.claims', '{\"sub\": \"" + BOB + "\"}', false)", False),
    ("SELECT set_config('role', 'none', false)", False),
    ("SET default_transaction_read_only = off", False),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", False),
    ("LISTEN x", False),
    ("SELECT pg_advisory_lock(1)", False),
    ("SELECT pg_advisory_lock_shared(2), pg_try_advisory_lock(3)", False),
    ("PREPARE p AS SELECT 1", False),
    ("DECLARE c CURSOR WITH HOLD FOR SELECT 1", False),
    ("COMMIT", False),
    ("ROLLBACK", False),
    ("BEGIN", False),
    ("RESET ROLE", False),
    ("DEALLOCATE ALL", False),
    ("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE", False),
    ("SET search_path TO x", True),
    ("COMMIT", True),
    ("SELECT pg_advisory_lock(1), set_config('x.leak', 'y', false)", True),
    # A committed write whose subquery also changed the session: the commit keeps the changes,
    # only the reset removes them. It inserts nothing (the filter is false for every row).
    ("INSERT INTO orders (total) SELECT 1 FROM (SELECT set_config('search_path', 'x', false) AS a, "
     "pg_advisory_lock(4) AS b, set_config('x.leak', 'y', false) AS c) s WHERE s.a IS NULL", True),
]


@pytest.mark.parametrize("sql, allow_writes", SESSION_CHANGES,
                         ids=[f"{s}{' (writes)' if w else ''}" for s, w in SESSION_CHANGES])
def test_session_changes_do_not_survive_the_run(executor, pool, login_state, owner_conn, sql, allow_writes):
    before = shop_snapshot(owner_conn)
    pid = backend_pid(executor)
    try:
        as_alice(executor, sql, allow_writes=allow_writes)
    except QueryFailed:
        pass   # whether it ran or not, nothing may be left behind
    assert_clean(pool, login_state, pid)
    assert shop_snapshot(owner_conn) == before
    assert as_alice(executor, "select count(*) as n from orders").rows == [{"n": 5}]


def test_failed_and_timed_out_runs_leave_a_clean_session(pool, login_state):
    executor = SqlExecutor(pool, statement_timeout_ms=200, max_rows=10, max_bytes=10000)
    pid = backend_pid(executor)
    for sql in ("select pg_advisory_lock(5), pg_sleep(5)", "select set_config('x.leak', 'y', false), 1/0"):
        with pytest.raises(QueryFailed):
            as_alice(executor, sql)
        assert_clean(pool, login_state, pid)


def test_copy_to_stdout_is_refused_and_its_connection_replaced(executor, pool, login_state):
    pid = backend_pid(executor)
    with pytest.raises(QueryFailed, match="COPY is not supported"):
        as_alice(executor, "COPY orders TO STDOUT")
    assert backend_pid(executor) != pid
    assert_clean(pool, login_state)


def test_pool_reset_alone_cleans_a_returned_connection(pool, login_state):
    with pool.connection() as conn:
        pid = conn.info.backend_pid
        conn.execute("select set_config('x.leak', 'y', false), set_config('search_path', 'x', false), "
                     "pg_advisory_lock(9)")
        conn.execute("LISTEN leak")
        conn.commit()
    assert_clean(pool, login_state, pid)


# -- writes -------------------------------------------------------------------------------------

def test_allowed_insert_of_own_order_commits(executor, pool, login_state, owner_conn):
    pid = backend_pid(executor)
    try:
        result = as_alice(executor, "insert into orders (user_id, total) values (%s, 12.5) returning id, total"
                          % ("'" + ALICE + "'"), allow_writes=True)
        assert (result.command, result.row_count, result.columns) == ("INSERT", 1, ["id", "total"])
        assert result.rows[0]["total"] == 12.5
        assert summarize(result) == "Inserted 1 row (returning: id, total)"
        assert_clean(pool, login_state, pid)
        assert as_alice(executor, "select count(*) as n from orders").rows == [{"n": 6}]
    finally:
        owner_conn.execute("delete from orders where user_id = %s and total = 12.5", (ALICE,))
    assert as_alice(executor, "select count(*) as n from orders").rows == [{"n": 5}]


def test_allowed_write_cannot_touch_another_users_rows(executor, owner_conn):
    before = shop_snapshot(owner_conn)
    with pytest.raises(QueryFailed) as info:
        as_alice(executor, f"insert into orders (user_id, total) values ('{BOB}', 1)", allow_writes=True)
    assert (info.value.reason, info.value.code) == ("Permission denied", "permission_denied")
    updated = as_alice(executor, f"update orders set total = 0 where user_id = '{BOB}'", allow_writes=True)
    assert (updated.command, updated.row_count, summarize(updated)) == ("UPDATE", 0, "Updated 0 rows")
    assert shop_snapshot(owner_conn) == before


def test_only_a_top_level_write_is_committed(executor, owner_conn):
    before = shop_snapshot(owner_conn)
    result = as_alice(executor, "with i as (insert into orders (total) values (1) returning id) select id from i",
                      allow_writes=True)
    assert result.command == "SELECT" and result.row_count == 1
    assert shop_snapshot(owner_conn) == before


# -- pool problems ------------------------------------------------------------------------------

def test_exhausted_pool_is_unavailable(pool):
    executor = SqlExecutor(pool, statement_timeout_ms=1000, max_rows=10, max_bytes=1000, acquire_timeout_s=0.2)
    with pool.connection():
        with pytest.raises(ExecutorUnavailable):
            executor.run("select 1", role="anon", claims={})


def test_closed_pool_is_unavailable(database):
    closed = authenticator_pool(dataclasses.replace(database, db_pool_size=1))
    closed.close()
    executor = SqlExecutor(closed, statement_timeout_ms=1000, max_rows=10, max_bytes=1000)
    with pytest.raises(ExecutorUnavailable):
        executor.run("select 1", role="anon", claims={})


# -- values and shapes --------------------------------------------------------------------------

def test_values_are_json_safe(executor):
    result = executor.run(
        "select 58.80::numeric(10,2) as price, 123456789012345678901234.5::numeric as big, "
        "'NaN'::numeric as nan_numeric, 'Infinity'::float8 as inf, "
        "timestamptz '2024-01-02 03:04:05+00' as ts, date '2024-01-02' as d, time '10:30' as t, "
        "interval '1 day 2 hours' as iv, %s::uuid as u, "
        "'{\"a\": [1, 2.5, null], \"b\": {\"c\": true}}'::jsonb as j, '\\xdeadbeef'::bytea as b, "
        "array[1, 2] as arr, '[1,2,3]'::vector as v, 1 as dup, 2 as dup" % ("'" + ALICE + "'"),
        role="anon", claims={})
    row = result.rows[0]
    json.dumps(result.rows, allow_nan=False)
    assert row["price"] == 58.8 and isinstance(row["price"], float)
    assert row["big"] == "123456789012345678901234.5"
    assert (row["nan_numeric"], row["inf"]) == ("NaN", "Infinity")
    assert dt.datetime.fromisoformat(row["ts"]) == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert (row["d"], row["t"], row["iv"]) == ("2024-01-02", "10:30:00", "1 day 02:00:00")
    assert row["u"] == ALICE
    assert row["j"] == {"a": [1, 2.5, None], "b": {"c": True}}
    assert row["b"] == "\\xdeadbeef"
    assert row["arr"] == [1, 2] and row["v"] == "[1,2,3]"
    assert result.columns[-2:] == ["dup", "dup_2"] and (row["dup"], row["dup_2"]) == (1, 2)
    assert Decimal(str(row["price"])) == Decimal("58.80")
