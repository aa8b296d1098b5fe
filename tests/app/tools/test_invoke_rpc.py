"""invoke_rpc through the registry on the real PostgreSQL with the demo shop: only functions exposed to
the chatbot's namespace, named parameters checked against the catalog and bound, run as the end user
(RLS and the function's own security apply), audited and shown to the client as a query_result."""
from __future__ import annotations

import pytest

from app.db.connect import authenticator_pool, owner_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import SqlExecutor
from app.tools.base import ToolServices
from app.tools.scopes import missing_scope_text
from tests.support.execution import Bot, Call


@pytest.fixture(scope="module")
def services(database):
    db, users = owner_pool(database, "m3-rpc-tests"), authenticator_pool(database)
    executor = SqlExecutor(users, statement_timeout_ms=3000, max_rows=database.sql_max_rows,
                           max_bytes=database.sql_max_bytes)
    yield ToolServices(settings=database, sql=executor, db=db)
    db.close()
    users.close()


@pytest.fixture(scope="module")
def functions(database):
    """Test functions beside the demo's public.order_total: a set-returning one with defaults, a
    SECURITY DEFINER one, one nobody may execute, a procedure and an unexposed one."""
    import psycopg

    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute("""
            create schema if not exists rpc_test;
            grant usage on schema rpc_test to authenticated, anon;
            create or replace function rpc_test.orders_in(wanted text, max_rows int default 10, ids int[] default null)
              returns table (id int, status text, total numeric) language sql stable as
              $$ select o.id, o.status, o.total from public.orders o
                  where o.status = wanted and (ids is null or o.id = any(ids)) order by o.id limit max_rows $$;
            create or replace function rpc_test.all_totals() returns numeric language sql stable security definer as
              $$ select sum(total) from public.orders $$;
            create or replace function rpc_test.locked() returns int language sql as $$ select 1 $$;
            revoke all on function rpc_test.locked() from public;
            create or replace procedure rpc_test.proc() language sql as $$ select 1 $$;
            create or replace function rpc_test.hidden() returns int language sql as $$ select 42 $$;
            create or replace function rpc_test.writes() returns int language sql as
              $$ insert into public.locations (name, lat, lon) values ('x', 0, 0) returning id $$;
            grant execute on function rpc_test.orders_in(text, int, int[]), rpc_test.all_totals(), rpc_test.writes()
              to authenticated;
        """)


@pytest.fixture
def bot(database, owner_conn, functions):
    bot = Bot(database, owner_conn)
    for schema, name, definer in [("public", "order_total", False), ("rpc_test", "orders_in", False),
                                  ("rpc_test", "all_totals", False), ("rpc_test", "locked", False),
                                  ("rpc_test", "proc", False), ("rpc_test", "writes", False)]:
        owner_conn.execute("insert into ai.exposed_rpc (namespace, schema_name, function_name, allow_security_definer)"
                           " values (%s, %s, %s, %s)", (bot.namespace, schema, name, definer))
    return bot


def audit(owner_conn, turn_id):
    return owner_conn.execute("select sql, verdict, reason from ai.sql_audit where turn_id = %s order by id",
                              (turn_id,)).fetchall()


def test_an_exposed_function_runs_as_the_user_under_row_level_security(services, bot, owner_conn):
    alice, bob = Call(services, bot, ALICE), Call(services, bot, BOB)
    text = alice("invoke_rpc", {"name": "order_total", "params": {"order_id": 1}})
    assert text.startswith("Returned 1 row (columns: order_total)") and '{"order_total":58.8}' in text
    # Order 1 is Alice's: Bob's identical call sees none of its items (RLS on order_items).
    assert '{"order_total":null}' in bob("invoke_rpc", {"name": "public.order_total", "params": {"order_id": 1}})
    result = alice.of_type("query_result")[-1]
    assert result["query"] == "select * from public.order_total(order_id => '1')"
    assert result["data"] == [{"order_total": 58.8}] and "error" not in result
    assert audit(owner_conn, alice.turn_id) == [("select * from public.order_total(order_id => '1')", "executed", None)]


def test_named_parameters_defaults_and_arrays_are_bound_not_spliced(services, bot):
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "orders_in", "params": {"wanted": "delivered"}})
    assert text.startswith("Returned 2 rows")
    call("invoke_rpc", {"name": "orders_in", "params": {"wanted": "delivered", "ids": [2, 99]}})
    assert [r["id"] for r in call.of_type("query_result")[-1]["data"]] == [2]
    hostile = "delivered'; drop table public.orders; --"
    text = call("invoke_rpc", {"name": "orders_in", "params": {"wanted": hostile, "max_rows": 1}})
    assert text.startswith("Returned 0 rows")


def test_unknown_parameters_and_missing_ones_are_refused_with_the_signature(services, bot, owner_conn):
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "orders_in", "params": {"wanted": "paid", "\"; drop": 1}})
    assert text == ("Error: rpc_test.orders_in has no parameter '\"; drop' (its parameters: wanted text, "
                    "max_rows integer (optional), ids integer[] (optional))")
    text = call("invoke_rpc", {"name": "orders_in", "params": {"max_rows": 1}})
    assert text.startswith("Error: rpc_test.orders_in needs the parameter 'wanted'")
    assert call("invoke_rpc", {"name": "orders_in", "params": [1]}) == \
        "Error: `params` must be an object of parameter names to values"
    assert [row[1] for row in audit(owner_conn, call.turn_id)] == ["refused"] * 3
    assert all(e.get("error") for e in call.of_type("query_result"))


def test_a_function_outside_the_allow_list_is_refused_and_the_exposed_ones_are_listed(services, bot, owner_conn):
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "rpc_test.hidden"})
    assert text.startswith("Error: no function named 'rpc_test.hidden' is exposed to this chatbot (exposed: ")
    assert "public.order_total" in text and "rpc_test.hidden," not in text
    assert call("invoke_rpc", {"name": "pg_sleep", "params": {"seconds": 5}}).startswith("Error: no function named")
    assert audit(owner_conn, call.turn_id)[0][1:] == ("refused", text.removeprefix("Error: "))


def test_another_namespace_is_out_of_reach(services, bot, database, owner_conn):
    other = Bot(database, owner_conn)
    owner_conn.execute("insert into ai.exposed_rpc (namespace, schema_name, function_name) values (%s, 'rpc_test', "
                       "'hidden')", (other.namespace,))
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "hidden", "namespace": other.namespace})
    assert text == f"Error: this chatbot can only reach its own namespace ({bot.namespace!r}), not {other.namespace!r}"
    assert call("invoke_rpc", {"name": "hidden"}).startswith("Error: no function named 'hidden' is exposed")
    assert Call(services, other, ALICE)("invoke_rpc", {"name": "hidden"}) == 'Returned 1 row (columns: hidden)\n' \
        'Sample rows (1 of 1):\n{"hidden":42}'


def test_the_functions_own_security_and_grants_apply(services, bot):
    call = Call(services, bot, ALICE)
    assert call("invoke_rpc", {"name": "all_totals"}).startswith(
        "Error: rpc_test.all_totals is SECURITY DEFINER (it would run with its owner's rights")
    assert call("invoke_rpc", {"name": "locked"}) == "Error: Permission denied"
    assert call("invoke_rpc", {"name": "proc"}) == "Error: rpc_test.proc is a procedure; only plain functions can be called"
    # Read-only: a function that writes is stopped by the transaction.
    assert call("invoke_rpc", {"name": "writes"}) == "Error: Operation not allowed: INSERT"
    # An anonymous caller's role (anon) has no EXECUTE on order_total.
    assert Call(services, bot, None)("invoke_rpc", {"name": "order_total", "params": {"order_id": 1}}) == \
        "Error: Permission denied"


def test_a_bad_value_is_a_query_error_not_a_crash(services, bot, owner_conn):
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "order_total", "params": {"order_id": "one"}})
    assert text == 'Error: Query failed: invalid input syntax for type integer: "one"'
    assert audit(owner_conn, call.turn_id)[0][1] == "failed"


def test_without_the_scope_the_call_is_refused_and_recorded(services, database, owner_conn):
    bot = Bot(database, owner_conn, tools=("submit_job",))
    call = Call(services, bot, ALICE)
    text = call("invoke_rpc", {"name": "order_total", "params": {"order_id": 1}})
    assert text == "Error: " + missing_scope_text("invoke_rpc", "execute:rpc")
    assert audit(owner_conn, call.turn_id)[0][1] == "refused"
    assert call.of_type("query_result")[-1]["error"] == missing_scope_text("invoke_rpc", "execute:rpc")


def test_hostile_sizes_are_refused_or_bound(services, bot):
    call = Call(services, bot, ALICE)
    many = {f"p{i}": i for i in range(10_000)}
    assert call("invoke_rpc", {"name": "orders_in", "params": many}) == "Error: at most 50 parameters"
    big = {"wanted": "x" * 70_000}
    assert call("invoke_rpc", {"name": "orders_in", "params": big}) == "Error: `params` are larger than 64 KiB"
    # 10,000 values in one array parameter are one bound array, not 10,000 pieces of SQL text.
    text = call("invoke_rpc", {"name": "orders_in", "params": {"wanted": "delivered", "ids": list(range(10_000))}})
    assert text.startswith("Returned 2 rows")
    quoted = call("invoke_rpc", {"name": 'order_total"; select 1; --'})
    assert quoted.startswith("Error: no function named 'order_total\"; select 1; --' is exposed")
