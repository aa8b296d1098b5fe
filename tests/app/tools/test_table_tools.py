"""The data tools through the registry on the real PostgreSQL with the demo shop: statements run as
the end user (RLS), allowed tables and operations are enforced on every call, every column is
checked against the catalog, hostile names and values are refused or bound, and each attempt is
audited and shown to the client as a query_result."""
from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
import pytest

from app.db.connect import authenticator_pool, owner_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import SqlExecutor
from app.tools.base import ToolContext, ToolServices
from app.tools.registry import default_registry
from app.tools.scopes import missing_scope_text
from workers.cancellation import TurnCancellation

DATA = {"query_table", "insert_record", "update_record", "delete_record"}
SHOP = {"allowed_operations": ["SELECT"], "allowed_tables": ["orders", "order_items", "products"],
        "allowed_schemas": ["public"], "mcp_tools": ["query_table"]}
WRITER = {**SHOP, "allowed_operations": ["SELECT", "INSERT", "UPDATE", "DELETE"],
          "allowed_tables": ["orders", "order_items", "products", "analytics.order_metrics"],
          "mcp_tools": sorted(DATA)}


@pytest.fixture(scope="module")
def scratch_schema(database):
    """Tables made for one test live outside public, where the demo's own checks look."""
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute("create schema if not exists tooltest")
        conn.execute("grant usage on schema tooltest to authenticated")
    return "tooltest"


@pytest.fixture(scope="module")
def services(database, scratch_schema):
    db, users = owner_pool(database, "m1-tests"), authenticator_pool(database)
    executor = SqlExecutor(users, statement_timeout_ms=3000, max_rows=database.sql_max_rows,
                           max_bytes=database.sql_max_bytes)
    yield ToolServices(settings=database, sql=executor, db=db)
    db.close()
    users.close()


class Call:
    """One registry call as a user of a chatbot; keeps what the client was sent."""

    def __init__(self, services, config, user=ALICE):
        self.services, self.config, self.user = services, config, user
        self.events: list[dict] = []
        self.turn_id = str(uuid.uuid4())

    def __call__(self, tool: str, arguments) -> str:
        role = "authenticated" if self.user else "anon"
        claims = {"sub": self.user, "role": role} if self.user else {"role": "anon"}
        ctx = ToolContext(conversation_id=None, turn_id=self.turn_id, message_id="m", chatbot_id=None,
                          chatbot_config=self.config, user_id=self.user, role=role, claims=claims,
                          emit=self.events.append, cancel=TurnCancellation().token, services=self.services)
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return default_registry().invoke(tool, raw, ctx, DATA | {"search_vectors"})

    def results(self) -> list[dict]:
        return [e for e in self.events if e["type"] == "query_result"]


def audit(owner_conn, turn_id):
    return owner_conn.execute("select sql, verdict, reason, command, row_count from ai.sql_audit "
                              "where turn_id = %s order by id", (turn_id,)).fetchall()


def rows_of(call: Call) -> list[dict]:
    result = call.results()[-1]
    assert "error" not in result, result
    return result["data"]


# -- reading ---------------------------------------------------------------------------------------


def test_query_table_runs_as_the_user_and_the_client_and_audit_get_the_statement(services, owner_conn):
    call = Call(services, SHOP)
    text = call("query_table", {"table": "orders", "select": ["id", "status", "user_id"], "order": "id.asc"})
    rows = rows_of(call)
    assert [r["user_id"] for r in rows] == [ALICE] * 5
    assert text.startswith("Returned 5 rows (columns: id, status, user_id)\nSample rows (")
    result = call.results()[-1]
    assert result["query"] == 'SELECT "id", "status", "user_id" FROM "public"."orders" ORDER BY "id" ASC LIMIT 100'
    assert result["row_count"] == 5 and result["summary"] == "Returned 5 rows (columns: id, status, user_id)"
    assert audit(owner_conn, call.turn_id) == [(result["query"], "executed", None, "SELECT", 5)]


def test_two_users_same_call_own_rows_only(services):
    seen = {}
    for user in (ALICE, BOB):
        call = Call(services, SHOP, user)
        call("query_table", {"table": "orders", "filter": {"total": "gte.0"}})
        seen[user] = {r["user_id"] for r in rows_of(call)}
    assert seen == {ALICE: {ALICE}, BOB: {BOB}}
    anonymous = Call(services, SHOP, None)
    assert anonymous("query_table", {"table": "orders"}) == "Error: Permission denied"


@pytest.mark.parametrize(("condition", "ids"), [
    ({"status": "eq.delivered"}, [1, 2]),
    ({"status": "neq.delivered"}, [3, 4, 5]),
    ({"total": "gt.31.4"}, [1, 2]),
    ({"total": "gte.31.4"}, [1, 2, 3]),
    ({"total": "lt.22"}, [5]),
    ({"total": "lte.22"}, [4, 5]),
    ({"status": "like.*ip*"}, [3]),
    ({"status": "ilike.PA%"}, [4]),
    ({"id": "in.(1,3,99)"}, [1, 3]),
    ({"id": "nin.(1,3)"}, [2, 4, 5]),
    ({"id": "in.()"}, []),
    ({"customer_id": "is.null"}, []),
    ({"customer_id": "not.is.null"}, [1, 2, 3, 4, 5]),
    ({"total": ["gte.20", "lt.60"]}, [1, 3, 4]),
    ({"status": "not.in.(delivered,shipped)", "total": "gt.10"}, [4]),
    ({"id": 2}, [2]),
])
def test_filter_operators(services, condition, ids):
    call = Call(services, SHOP)
    call("query_table", {"table": "orders", "select": "id", "filter": condition, "order": "id"})
    # Alice's demo orders are 1-5; orders other tests create have higher ids.
    assert [r["id"] for r in rows_of(call) if r["id"] <= 8] == ids


def test_array_and_json_operators_on_a_table_made_for_it(services, owner_conn):
    owner_conn.execute("create table if not exists tooltest.m1_tagged (id int primary key, tags text[], info jsonb)")
    owner_conn.execute("insert into tooltest.m1_tagged values (1, '{red,blue}', '{\"a\": 1}'), (2, '{blue}', '{}'), "
                       "(3, '{green}', '{\"a\": 2}') on conflict do nothing")
    owner_conn.execute("grant select on tooltest.m1_tagged to authenticated")
    call = Call(services, {**SHOP, "allowed_tables": ["tooltest.m1_tagged"]})
    expectations = [({"tags": "cs.{blue}"}, [1, 2]), ({"tags": "cd.{blue,red,yellow}"}, [1, 2]),
                    ({"tags": "ov.{green,red}"}, [1, 3]), ({"info": 'cs.{"a": 2}'}, [3]),
                    ({"tags": 'cs.{"x\\"y"}'}, [])]
    for condition, ids in expectations:
        call("query_table", {"table": "tooltest.m1_tagged", "filter": condition, "order": "id"})
        assert [r["id"] for r in rows_of(call)] == ids, condition


def test_order_limit_offset(services):
    call = Call(services, SHOP)
    call("query_table", {"table": "orders", "select": ["id", "total"], "order": "total.desc,id", "limit": 2,
                         "offset": 1, "filter": {"id": "lte.8"}})
    assert [r["id"] for r in rows_of(call)] == [1, 3]
    call("query_table", {"table": "products", "select": "id", "order": ["category.asc.nullslast", "id.desc"],
                         "limit": 3})
    assert [r["id"] for r in rows_of(call)] == [5, 4, 2]


@pytest.mark.parametrize(("arguments", "error"), [
    ({"table": "orders", "limit": 0}, "`limit` must be between 1 and 1000, not 0"),
    ({"table": "orders", "limit": 1001}, "`limit` must be between 1 and 1000, not 1001"),
    ({"table": "orders", "limit": "5"}, "`limit` must be a whole number"),
    ({"table": "orders", "limit": True}, "`limit` must be a whole number"),
    ({"table": "orders", "offset": -1}, "`offset` must be zero or a positive whole number"),
    ({"table": "orders", "filter": {"status": "eq"}}, 'filter on status: "eq" is not "op.value"'),
    ({"table": "orders", "filter": {"status": "regex.^p"}}, 'filter on status: unknown operator "regex"'),
    ({"table": "orders", "filter": {"status": "is.maybe"}}, "filter on status: `is` takes null, true, false"),
    ({"table": "orders", "filter": {"id": "in.1,2"}}, "filter on id: `in` takes a parenthesised list"),
    ({"table": "orders", "filter": ["status", "eq.paid"]}, "`filter` must be an object"),
    ({"table": "orders", "filter": {"status": {"eq": "paid"}}}, 'filter on status: a condition is a string'),
    ({"table": "orders", "select": ["id", "secret"]}, "select: public.orders has no column 'secret' (columns: id,"),
    ({"table": "orders", "select": [1]}, "`select` must be a list of column names"),
    ({"table": "orders", "order": "nope.desc"}, "order: public.orders has no column 'nope'"),
    ({"table": "orders", "order": "id.asc.desc"}, "order: \"id.asc.desc\" gives more than one direction"),
    ({"table": "orders", "filter": {"nope": "eq.1"}}, "filter: public.orders has no column 'nope'"),
    ({"table": "customers"}, "Table not allowed: public.customers"),
    ({"table": "analytics.order_metrics"}, "Table not allowed: analytics.order_metrics"),
    ({"table": "ai.sql_audit"}, "Table not allowed: ai.sql_audit"),
    ({"table": "pg_catalog.pg_authid"}, "Table not allowed: pg_catalog.pg_authid"),
    ({"table": "orders; drop table orders"}, "`table`: 'orders; drop table orders' is not a table name"),
    ({"table": 'public."orders"."x"'}, "is not a table name"),
    ({"table": ""}, "`table` must be a table name"),
    ({}, "`table` must be a table name"),
])
def test_bad_arguments_are_refused_clearly_shown_and_audited(services, owner_conn, arguments, error):
    call = Call(services, SHOP)
    text = call("query_table", arguments)
    assert text.startswith("Error: ") and error in text, text
    result = call.results()[-1]
    assert result["error"] == text.removeprefix("Error: ") and result["query"].startswith("query_table {")
    assert [(verdict, reason) for _sql, verdict, reason, *_ in audit(owner_conn, call.turn_id)] == \
        [("refused", result["error"])]


def test_a_database_error_is_a_failed_attempt_the_model_reads(services, owner_conn):
    call = Call(services, SHOP)
    text = call("query_table", {"table": "orders", "filter": {"id": "eq.not-a-number"}})
    assert text == 'Error: Query failed: invalid input syntax for type integer: "not-a-number"'
    assert call.results()[-1]["query"] == """SELECT "id", "user_id", "customer_id", "status", "total", "created_at" """ \
                                           """FROM "public"."orders" WHERE "id" = 'not-a-number' LIMIT 100"""
    assert [v for _s, v, *_ in audit(owner_conn, call.turn_id)] == ["failed"]


# -- hostile input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ['id" from orders; drop table orders; --', 'id"', "ID", "orders.id",
                                  "\x00id", "*, (select 1)"])
def test_hostile_column_names_are_refused_everywhere(services, name):
    call = Call(services, WRITER)
    for tool, arguments in [("query_table", {"table": "orders", "select": [name]}),
                            ("query_table", {"table": "orders", "filter": {name: "eq.1"}}),
                            ("query_table", {"table": "orders", "order": f"{name}.desc"}),
                            ("insert_record", {"table": "orders", "data": {name: 1}}),
                            ("update_record", {"table": "orders", "data": {name: 1}, "filter": {"id": "eq.1"}}),
                            ("delete_record", {"table": "orders", "filter": {"id": "eq.1"}, "returning": [name]})]:
        text = call(tool, arguments)
        assert text.startswith("Error: ") and ("has no column" in text or "must be" in text), (tool, text)


@pytest.mark.parametrize("value", ["eq.1' or '1'='1", "eq.1; drop table orders", "in.(1) or true", 'in.("1\\" or 1=1 --")',
                                   "like.%' or 1=1 --", "eq.$1", "eq.%s", "eq.%(x)s", "eq.\\x00"])
def test_hostile_values_are_bound_never_spliced(services, owner_conn, value):
    before = owner_conn.execute("select count(*) from public.orders").fetchone()[0]
    call = Call(services, SHOP)
    text = call("query_table", {"table": "orders", "select": "id", "filter": {"status": value}})
    # No row matches the literal text, or it is refused as a value or as a filter: never more rows.
    assert text.startswith(("Returned 0 rows", "Error: Query failed: ", "Error: filter on status: ")), text
    assert owner_conn.execute("select count(*) from public.orders").fetchone()[0] == before


def test_an_in_list_of_ten_thousand_values_is_one_bound_parameter(services):
    call = Call(services, SHOP)
    values = ",".join(str(n) for n in range(1, 10_001))
    call("query_table", {"table": "orders", "select": "id", "filter": {"id": f"in.({values})"}, "order": "id"})
    assert [r["id"] for r in rows_of(call)] == [1, 2, 3, 4, 5]
    assert "9990 more" in call.results()[-1]["query"] and len(call.results()[-1]["query"]) < 500
    text = call("query_table", {"table": "orders", "filter": {"id": f"in.({values},10001)"}})
    assert text == "Error: filter on id: an `in` list may hold at most 10000 values, not 10001"


def test_quoted_identifiers_resolve_only_to_real_tables(services, owner_conn):
    owner_conn.execute('create table if not exists tooltest."Odd ""Name""" (id int, "Mixed Col" text)')
    owner_conn.execute('grant select on tooltest."Odd ""Name""" to authenticated')
    owner_conn.execute('insert into tooltest."Odd ""Name""" select 1, \'x\' where not exists '
                       '(select 1 from tooltest."Odd ""Name""")')
    call = Call(services, {**SHOP, "allowed_tables": ['tooltest."Odd ""Name"""']})
    call("query_table", {"table": 'tooltest."Odd ""Name"""', "select": ["Mixed Col"], "filter": {"Mixed Col": "eq.x"}})
    assert rows_of(call) == [{"Mixed Col": "x"}]
    assert call.results()[-1]["query"] == \
        'SELECT "Mixed Col" FROM "tooltest"."Odd ""Name""" WHERE "Mixed Col" = \'x\' LIMIT 100'
    assert call("query_table", {"table": "odd \"name\""}).startswith("Error: `table`")


# -- writing ---------------------------------------------------------------------------------------


def test_insert_update_delete_as_the_user(services, owner_conn):
    call = Call(services, WRITER)
    text = call("insert_record", {"table": "orders", "data": {"status": "pending", "total": 12.5},
                                  "returning": ["id", "user_id", "total"]})
    created = rows_of(call)[0]
    assert text.startswith("Inserted 1 row (returning: id, user_id, total)")
    assert created["user_id"] == ALICE and created["total"] == 12.5
    assert call.results()[-1]["query"] == ("""INSERT INTO "public"."orders" ("status", "total") VALUES ('pending', """
                                           """'12.5') RETURNING "id", "user_id", "total\"""")
    order_id = created["id"]
    call("update_record", {"table": "orders", "data": {"status": "paid"}, "filter": {"id": f"eq.{order_id}"},
                           "returning": "*"})
    assert rows_of(call)[0]["status"] == "paid"
    # Bob's update of Alice's order matches nothing: RLS hides the row.
    bob = Call(services, WRITER, BOB)
    assert bob("update_record", {"table": "orders", "data": {"status": "cancelled"},
                                 "filter": {"id": f"eq.{order_id}"}}) == "Updated 0 rows"
    assert bob("delete_record", {"table": "orders", "filter": {"id": f"eq.{order_id}"}}) == "Deleted 0 rows"
    assert call("delete_record", {"table": "orders", "filter": {"id": f"eq.{order_id}"}}) == "Deleted 1 row"
    assert owner_conn.execute("select count(*) from public.orders where id = %s", (order_id,)).fetchone()[0] == 0
    assert [(v, c) for _s, v, _r, c, _n in audit(owner_conn, call.turn_id)] == \
        [("executed", "INSERT"), ("executed", "UPDATE"), ("executed", "DELETE")]


def test_rls_refuses_a_row_for_another_user_and_nothing_is_written(services, owner_conn):
    before = owner_conn.execute("select count(*) from public.orders").fetchone()[0]
    call = Call(services, WRITER)
    text = call("insert_record", {"table": "orders", "data": [{"total": 1}, {"total": 2, "user_id": BOB}]})
    assert text == "Error: Permission denied"
    assert owner_conn.execute("select count(*) from public.orders").fetchone()[0] == before


def test_writes_need_a_filter_and_data(services):
    call = Call(services, WRITER)
    assert call("update_record", {"table": "orders", "data": {"status": "paid"}}) == \
        "Error: `filter` is required and may not be empty: say which rows to change"
    assert call("delete_record", {"table": "orders", "filter": {}}) == \
        "Error: `filter` is required and may not be empty: say which rows to change"
    assert call("delete_record", {"table": "orders", "filter": {"id": []}}) == \
        "Error: `filter` is required and may not be empty: say which rows to change"
    assert call("insert_record", {"table": "orders", "data": {}}) == \
        "Error: `data` must be a non-empty object of column: value"
    assert call("insert_record", {"table": "orders", "data": "status=paid"}) == \
        "Error: `data` must be a non-empty object of column: value"


def test_allowed_operations_are_enforced_for_every_call(services, owner_conn):
    # SELECT and INSERT: write:tables is granted, so the tools run, and UPDATE/DELETE are refused.
    select_insert = {**WRITER, "allowed_operations": ["SELECT", "INSERT"]}
    call = Call(services, select_insert)
    assert call("update_record", {"table": "orders", "data": {"status": "paid"}, "filter": {"id": "eq.1"}}) == \
        "Error: Operation not allowed: UPDATE"
    assert call("delete_record", {"table": "orders", "filter": {"id": "eq.1"}}) == \
        "Error: Operation not allowed: DELETE"
    # INSERT only: no reads through query_table, though inserting works.
    insert_only = Call(services, {**WRITER, "allowed_operations": ["INSERT"]})
    assert insert_only("query_table", {"table": "orders"}) == "Error: " + missing_scope_text("query_table", "read:tables")
    assert [v for _s, v, *_ in audit(owner_conn, insert_only.turn_id)] == ["refused"]
    assert insert_only.results()[-1]["error"] == missing_scope_text("query_table", "read:tables")


def test_a_select_only_bot_cannot_write_even_with_the_tool_named(services, owner_conn):
    before = owner_conn.execute("select count(*) from public.orders").fetchone()[0]
    call = Call(services, {**SHOP, "mcp_tools": sorted(DATA)})
    for tool, arguments in [("insert_record", {"table": "orders", "data": {"total": 1}}),
                            ("update_record", {"table": "orders", "data": {"total": 1}, "filter": {"id": "eq.1"}}),
                            ("delete_record", {"table": "orders", "filter": {"id": "eq.1"}})]:
        text = call(tool, arguments)
        assert text == "Error: " + missing_scope_text(tool, "write:tables"), text
        assert "write:tables" in text and "allowed-operations" in text
    assert [r["error"] for r in call.results()] == [missing_scope_text(t, "write:tables") for t in
                                                     ("insert_record", "update_record", "delete_record")]
    assert [v for _s, v, *_ in audit(owner_conn, call.turn_id)] == ["refused"] * 3
    assert owner_conn.execute("select count(*) from public.orders").fetchone()[0] == before


def test_a_chatbot_with_no_operations_reads_nothing(services):
    call = Call(services, {**SHOP, "allowed_operations": []})
    assert call("query_table", {"table": "orders"}) == "Error: " + missing_scope_text("query_table", "read:tables")


def test_schema_qualified_view_runs_with_the_callers_rights(services):
    call = Call(services, WRITER)
    call("query_table", {"table": "analytics.order_metrics", "select": "user_id,order_count"})
    assert [r["user_id"] for r in rows_of(call)] == [ALICE]
    assert call("insert_record", {"table": "analytics.order_metrics", "data": {"order_count": 1}}) == \
        'Error: Query failed: cannot insert into view "order_metrics"'


def test_values_are_read_with_the_columns_types(services, owner_conn):
    owner_conn.execute("create table if not exists tooltest.m1_types (id serial primary key, user_id uuid default "
                       "auth.uid(), tags text[], info jsonb, flag boolean, at timestamptz, n numeric)")
    owner_conn.execute("alter table tooltest.m1_types enable row level security")
    owner_conn.execute("drop policy if exists own on tooltest.m1_types")
    owner_conn.execute("create policy own on tooltest.m1_types for all to authenticated using (user_id = auth.uid())")
    owner_conn.execute("grant select, insert on tooltest.m1_types to authenticated")
    owner_conn.execute("grant usage on sequence tooltest.m1_types_id_seq to authenticated")
    call = Call(services, {**WRITER, "allowed_tables": ["tooltest.m1_types"]})
    data = {"tags": ["a", 'b "c"', "d,e"], "info": {"k": [1, 2], "s": "x"}, "flag": False,
            "at": "2026-01-02T03:04:05Z", "n": 0.000001}
    call("insert_record", {"table": "tooltest.m1_types", "data": data, "returning": ["tags", "info", "flag", "at", "n"]})
    row = rows_of(call)[0]
    assert dt.datetime.fromisoformat(row.pop("at")) == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert row == {"tags": ["a", 'b "c"', "d,e"], "info": {"k": [1, 2], "s": "x"}, "flag": False, "n": 1e-06}


def test_the_executor_caps_still_apply(services, database):
    with authenticator_pool(database) as users:
        capped = ToolServices(settings=database, db=services.db,
                              sql=SqlExecutor(users, statement_timeout_ms=3000, max_rows=2, max_bytes=1 << 20))
        call = Call(capped, SHOP)
        text = call("query_table", {"table": "orders", "select": "id"})
    assert call.results()[-1]["truncated"] is True and len(rows_of(call)) == 2
    assert "truncated at the row limit" in text


def test_arguments_that_are_not_an_object_are_the_registrys_errors(services):
    call = Call(services, SHOP)
    assert call("query_table", "not json").startswith("Error: the arguments were not valid JSON")
    assert call("query_table", "[1]") == "Error: the arguments must be a JSON object"


def test_the_sync_warns_about_tools_whose_scope_the_file_does_not_grant():
    from app.chatbots.spec import parse_chatbot

    code = ("/**\n * Bot\n * @fluxbase:description d\n * @fluxbase:allowed-tables orders\n"
            " * @fluxbase:allowed-operations SELECT\n * @fluxbase:mcp-tools query_table,insert_record,delete_record\n"
            " */\nexport default `x`;\n")
    spec = parse_chatbot(code, name="bot")
    assert spec.warnings == (
        "insert_record: every call will be refused: " + missing_scope_text("insert_record", "write:tables"),
        "delete_record: every call will be refused: " + missing_scope_text("delete_record", "write:tables"))
    assert [t["name"] for t in spec.tools] == ["query_table", "insert_record", "delete_record"]


def test_a_percent_sign_in_a_value_is_data_not_a_placeholder(services):
    call = Call(services, SHOP)
    call("query_table", {"table": "products", "select": "name", "filter": {"name": "like.%mug%"}})
    assert rows_of(call) == [{"name": "Ceramic mug"}]


# -- vector search ---------------------------------------------------------------------------------

DOCS = [(1, ALICE, "How to grind coffee beans for espresso"), (2, ALICE, "Our return policy lasts thirty days"),
        (3, BOB, "Grinding coffee at home with a burr grinder"), (4, ALICE, "Tea brewing temperatures")]


@pytest.fixture(scope="module")
def vector_table(database, scratch_schema):
    from pgvector.psycopg import register_vector

    from app.knowledge.embedders import local_embedder

    with psycopg.connect(database.database_url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("drop table if exists tooltest.m1_docs")
        conn.execute("create table tooltest.m1_docs (id int primary key, user_id uuid not null, body text, "
                     "embedding vector(384), small vector(3))")
        conn.execute("alter table tooltest.m1_docs enable row level security")
        conn.execute("alter table tooltest.m1_docs force row level security")
        conn.execute("create policy own on tooltest.m1_docs for select to authenticated using (user_id = auth.uid())")
        conn.execute("grant select on tooltest.m1_docs to authenticated")
        vectors = local_embedder().embed([body for _i, _u, body in DOCS])
        for (doc_id, user, body), vector in zip(DOCS, vectors):
            conn.execute("insert into tooltest.m1_docs values (%s, %s, %s, %s, '[1,0,0]')",
                         (doc_id, user, body, vector))
    return {**SHOP, "allowed_tables": ["tooltest.m1_docs"]}


def test_vector_search_orders_by_meaning_among_the_users_rows(services, vector_table):
    call = Call(services, vector_table)
    call("query_table", {"table": "tooltest.m1_docs", "select": ["id", "body"],
                         "vector_search": {"query": "coffee grinder", "column": "embedding"}})
    rows = rows_of(call)
    assert [r["id"] for r in rows][0] == 1 and {r["id"] for r in rows} == {1, 2, 4}   # Bob's 3 is not seen
    similarities = [r["similarity"] for r in rows]
    assert similarities == sorted(similarities, reverse=True) and -1 <= similarities[-1] <= similarities[0] <= 1
    query = call.results()[-1]["query"]
    assert "embedding('coffee grinder')" in query and 'OPERATOR("public".<=>)' in query
    assert query.endswith("LIMIT 100")


def test_vector_search_threshold_and_default_columns(services, vector_table):
    call = Call(services, vector_table)
    call("query_table", {"table": "tooltest.m1_docs",
                         "vector_search": {"query": "coffee grinder", "column": "embedding", "threshold": 0.4}})
    rows = rows_of(call)
    assert [r["id"] for r in rows] == [1] and rows[0]["similarity"] >= 0.4
    assert set(rows[0]) == {"id", "user_id", "body", "similarity"}   # vector columns only when named


@pytest.mark.parametrize(("search", "error"), [
    ({"query": "x", "column": "body"}, "vector_search.column: body is not a vector column of tooltest.m1_docs"),
    ({"query": "x", "column": "small"}, "small holds 3-dimension vectors; the query embedder makes 384"),
    ({"query": "x", "column": "nope"}, "vector_search.column: tooltest.m1_docs has no column 'nope'"),
    ({"query": "", "column": "embedding"}, "`vector_search.query` must be a non-empty string"),
    ({"query": "x", "column": "embedding", "threshold": 2}, "`vector_search.threshold` must be a similarity"),
    ({"query": "x", "column": "embedding", "k": 3}, "`vector_search` has unknown keys: k"),
    ("coffee", "`vector_search` must be an object"),
])
def test_vector_search_refusals(services, vector_table, search, error):
    call = Call(services, vector_table)
    text = call("query_table", {"table": "tooltest.m1_docs", "vector_search": search})
    assert text.startswith("Error: ") and error in text, text


def test_several_rows_in_one_insert_and_its_caps(services, owner_conn):
    call = Call(services, WRITER)
    call("insert_record", {"table": "orders", "data": [{"total": 1, "status": "paid"}, {"total": 2}],
                           "returning": ["id", "status", "total"]})
    made = rows_of(call)
    try:
        assert [(r["status"], r["total"]) for r in made] == [("paid", 1), ("pending", 2)]   # a left-out column: DEFAULT
        assert call.results()[-1]["query"].startswith(
            """INSERT INTO "public"."orders" ("total", "status") VALUES ('1', 'paid'), ('2', DEFAULT)""")
    finally:
        owner_conn.execute("delete from public.orders where id = any(%s)", ([r["id"] for r in made],))
    assert call("insert_record", {"table": "orders", "data": [{"total": 1}] * 1001}) == \
        "Error: `data` must be one object or a list of 1 to 1000 objects"
    owner_conn.execute("create table if not exists tooltest.m1_wide (%s)" % ", ".join(f"c{n} int" for n in range(40)))
    wide = Call(services, {**WRITER, "allowed_tables": ["tooltest.m1_wide"]})
    assert wide("insert_record", {"table": "tooltest.m1_wide", "data": [{f"c{n}": n for n in range(40)}] * 1000}) == \
        "Error: `data` holds 1000 rows of 40 columns; one call may write at most 30000 values: split it"
