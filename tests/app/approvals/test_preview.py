"""The approval preview on the real PostgreSQL: the statement really runs as the end user (RLS and
grants apply) and is rolled back, so the preview shows the rows it would change and nothing changes;
row and byte caps hold; statements that would fail are not offered for approval."""
from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from app.approvals.preview import (
    MAX_PREVIEW_BYTES,
    MAX_PREVIEW_ROWS,
    MAX_PREVIEW_VALUE_CHARS,
    NotPreviewable,
    preview_call,
    sql_operation,
)
from app.db.connect import authenticator_pool, owner_pool
from app.demo.loader import ALICE, BOB
from app.sql.executor import SqlExecutor
from app.tools.base import ToolContext, ToolServices
from workers.cancellation import TurnCancellation

SCHEMA = "approvaltest"
WRITER = {"allowed_operations": ["SELECT", "INSERT", "UPDATE", "DELETE"],
          "allowed_tables": ["orders", "order_items", "products", f"{SCHEMA}.items"], "allowed_schemas": ["public"],
          "mcp_tools": ["insert_record", "update_record", "delete_record"]}


@pytest.fixture(scope="module")
def items(database):
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute(f"create schema if not exists {SCHEMA}")
        conn.execute(f"grant usage on schema {SCHEMA} to authenticated")
        conn.execute(f"drop table if exists {SCHEMA}.items")
        conn.execute(f"create table {SCHEMA}.items (id int primary key, note text not null)")
        conn.execute(f"insert into {SCHEMA}.items select n, 'n' || n from generate_series(1, 50) n")
        conn.execute(f"grant select, insert, update, delete on {SCHEMA}.items to authenticated")
    return f"{SCHEMA}.items"


@pytest.fixture(scope="module")
def services(database):
    db, users = owner_pool(database, "approval-tests"), authenticator_pool(database)
    executor = SqlExecutor(users, statement_timeout_ms=3000, max_rows=database.sql_max_rows,
                           max_bytes=database.sql_max_bytes)
    yield ToolServices(settings=database, sql=executor, db=db)
    db.close()
    users.close()


def ctx_for(services, user=ALICE, config=WRITER):
    return ToolContext(conversation_id=None, turn_id=str(uuid.uuid4()), message_id="m", chatbot_id=None,
                       chatbot_config=config, user_id=user, role="authenticated",
                       claims={"sub": user, "role": "authenticated"}, emit=lambda event: None,
                       cancel=TurnCancellation().token, services=services)


def snapshot(owner_conn):
    return (owner_conn.execute("select id, status, total from public.orders order by id").fetchall(),
            owner_conn.execute(f"select id, note from {SCHEMA}.items order by id").fetchall())


def test_an_update_is_previewed_as_the_rows_it_changes_and_nothing_changes(services, items, owner_conn):
    before = snapshot(owner_conn)
    preview = preview_call(ctx_for(services), "execute_sql", {
        "sql": "UPDATE orders SET status = 'cancelled' WHERE status <> 'cancelled'", "description": "Cancel all"})
    assert snapshot(owner_conn) == before
    data = preview.data
    assert (data["kind"], data["operation"]) == ("sql", "UPDATE")
    # Only Alice's rows: the statement ran as her, under row-level security.
    alice_open = owner_conn.execute("select count(*) from public.orders where user_id = %s and status <> "
                                    "'cancelled'", (ALICE,)).fetchone()[0]
    assert data["row_count"] == alice_open > 0 and len(data["rows"]) == alice_open
    assert {row["user_id"] for row in data["rows"]} == {ALICE}
    assert {row["status"] for row in data["rows"]} == {"cancelled"}
    assert "id" in data["columns"] and data["truncated"] is False
    # What runs once approved is the statement as the model wrote it, not the RETURNING variant.
    assert preview.statement == "UPDATE orders SET status = 'cancelled' WHERE status <> 'cancelled'"
    assert preview.sql.startswith("UPDATE orders\nSET status = 'cancelled'")
    assert preview.description == "Cancel all"


def test_an_insert_preview_shows_the_new_row_and_inserts_nothing(services, items, owner_conn):
    before = snapshot(owner_conn)
    preview = preview_call(ctx_for(services), "insert_record", {
        "table": "orders", "data": {"status": "pending", "total": 12.5}})
    assert snapshot(owner_conn) == before
    assert preview.data["row_count"] == 1 and preview.data["rows"][0]["user_id"] == ALICE
    assert preview.data["rows"][0]["total"] == 12.5
    assert preview.statement.startswith('INSERT INTO "public"."orders" ("status", "total") VALUES')
    assert "RETURNING" not in preview.statement


def test_a_statement_with_its_own_returning_is_previewed_as_written(services, items):
    preview = preview_call(ctx_for(services), "execute_sql", {
        "sql": f"DELETE FROM {items} WHERE id <= 3 RETURNING id", "description": "d"})
    assert preview.data["columns"] == ["id"] and [r["id"] for r in preview.data["rows"]] == [1, 2, 3]


def test_the_sample_is_capped_by_rows_and_the_count_is_all_of_them(services, items, owner_conn):
    before = snapshot(owner_conn)
    preview = preview_call(ctx_for(services), "execute_sql", {"sql": f"UPDATE {items} SET note = note || '!'"})
    data = preview.data
    assert data["row_count"] == 50 and len(data["rows"]) == MAX_PREVIEW_ROWS and data["truncated"] is True
    assert snapshot(owner_conn) == before


def test_long_values_are_cut_so_huge_rows_still_show(services, items):
    # One value larger than the byte cap used to leave the sample empty: the user saw no row at all.
    preview = preview_call(ctx_for(services), "update_record", {
        "table": items, "data": {"note": "x" * 20_000}, "filter": {"id": "lte.15"}})
    data = preview.data
    assert data["row_count"] == 15 and len(data["rows"]) == 15 and data["truncated"] is False
    assert {r["note"] for r in data["rows"]} == {"x" * MAX_PREVIEW_VALUE_CHARS + "…"}
    assert len(json.dumps(data)) <= MAX_PREVIEW_BYTES + 1_000


def test_the_sample_is_capped_by_bytes(services, items):
    preview = preview_call(ctx_for(services), "execute_sql", {
        "sql": f"UPDATE {items} SET note = repeat('x', 5000) WHERE id <= 15 RETURNING note AS a, note AS b, note AS c"})
    data = preview.data
    assert data["row_count"] == 15 and 0 < len(data["rows"]) < 15 and data["truncated"] is True
    assert len(json.dumps(data["rows"])) <= MAX_PREVIEW_BYTES


def test_statements_that_would_fail_are_not_offered_for_approval(services, items):
    ctx = ctx_for(services)
    with pytest.raises(NotPreviewable) as failed:  # PostgreSQL refuses it: it must not run unasked later
        preview_call(ctx, "execute_sql", {"sql": "UPDATE orders SET total = 'many'"})
    assert failed.value.reason.startswith("Query failed") and failed.value.refused is False
    with pytest.raises(NotPreviewable) as refused:  # the tool's own checks refuse it before it runs
        preview_call(ctx, "update_record", {"table": "customers", "data": {"name": "x"}, "filter": {"id": "eq.1"}})
    assert refused.value.refused is True
    with pytest.raises(NotPreviewable):
        preview_call(ctx, "execute_sql", {"sql": "DELETE FROM customers"})
    assert sql_operation(ctx, {"sql": "DELETE FROM customers"}) is None   # the guard refuses it
    assert sql_operation(ctx, {"sql": "DELETE FROM orders WHERE id = 1"}) == "DELETE"


def test_another_users_rows_are_not_in_their_preview(services, items):
    preview = preview_call(ctx_for(services, user=BOB), "execute_sql", {"sql": "DELETE FROM orders"})
    assert preview.data["row_count"] >= 1 and {r["user_id"] for r in preview.data["rows"]} == {BOB}


def test_http_calls_are_previewed_as_the_exact_request_with_secrets_masked():
    preview = preview_call(None, "http_get", {
        "url": "https://api.example.com/v1/weather?q={{secret:weather}}", "params": {"city": "Oslo"},
        "headers": {"Authorization": "Bearer abc", "X-Api-Key": "{{secret:key}}", "Accept": "application/json"}})
    assert preview.data == {"kind": "request", "method": "GET",
                            "url": "https://api.example.com/v1/weather?q={{secret:weather}}",
                            "params": {"city": "Oslo"}, "body": None,
                            "headers": {"Authorization": "***", "X-Api-Key": "{{secret:key}}",
                                        "Accept": "application/json"}}
    other = preview_call(None, "submit_job", {"name": "report", "payload": {"month": 5}})
    assert other.data == {"kind": "call", "arguments": {"name": "report", "payload": {"month": 5}}}
