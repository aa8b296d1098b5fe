"""The data tools end to end with the shipped order-management (chatbots/order-management): the scripted
model reads with query_table (a `schema.table` view included) and creates an order with
insert_record; the real worker runs both as the end user, the client gets query_result events and
the model the summaries. Two users asking the same get their own rows only."""
from tests.conftest import ALICE, BOB

BOT = "order-management"   # synced from chatbots/ into the default namespace when the web process starts


def results(events):
    return [e for e in events if e["type"] == "query_result"]


def test_the_model_queries_and_inserts_and_the_client_gets_query_results(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat(BOT)["conversation_id"]
    llm.reply_tool_calls([
        {"name": "query_table", "arguments": {"table": "orders", "select": ["id", "user_id", "status"],
                                              "filter": {"status": "in.(delivered,shipped)"}, "order": "id.asc"}},
        {"name": "query_table", "arguments": {"table": "analytics.order_metrics"}},
    ])
    llm.reply_tool_calls([{"name": "insert_record", "arguments": {
        "table": "orders", "data": {"status": "pending", "total": 24.9}, "returning": ["id", "user_id", "total"]}}])
    llm.reply_text("Your new order is number 42.")
    client.send({"type": "message", "conversation_id": conversation,
                 "content": "Show my past orders and order the espresso beans again"})
    # chatbots/order-management asks before insert_record (docs/approval.md): the user approves it.
    events = client.until_type("approval_required", "error")
    assert events[-1]["type"] == "approval_required", events[-1]
    client.send({"type": "approve", "approval_id": events[-1]["approval_id"]})
    events += client.until_type("done", "cancelled", "error")
    assert events[-1]["type"] == "done", events[-1]
    found = results(events)
    assert len(found) == 3
    # The two reads were asked for together and may finish in either order.
    orders = next(r for r in found if '"public"."orders"' in r["query"])
    metrics = next(r for r in found if '"analytics"."order_metrics"' in r["query"])
    inserted = found[-1]
    assert orders["query"] == ('SELECT "id", "user_id", "status" FROM "public"."orders" WHERE "status" = '
                               "ANY(ARRAY['delivered', 'shipped']) ORDER BY \"id\" ASC LIMIT 100")
    assert [r["id"] for r in orders["data"] if r["id"] <= 8] == [1, 2, 3]
    assert {r["user_id"] for r in orders["data"]} == {ALICE}
    assert [r["user_id"] for r in metrics["data"]] == [ALICE] and metrics["query"].startswith(
        'SELECT "user_id", "order_count", "total_spent", "last_order_at" FROM "analytics"."order_metrics"')
    assert inserted["summary"] == "Inserted 1 row (returning: id, user_id, total)" and inserted["row_count"] == 1
    new = inserted["data"][0]
    assert new["user_id"] == ALICE and new["total"] == 24.9
    try:
        assert owner_conn.execute("select user_id::text, status from public.orders where id = %s",
                                  (new["id"],)).fetchone() == (ALICE, "pending")
        tools = [m for m in llm.chat_requests()[-1].messages if m["role"] == "tool"]
        assert sorted(m["content"].split("\n")[0] for m in tools) == [
            "Inserted 1 row (returning: id, user_id, total)",
            "Returned 1 row (columns: user_id, order_count, total_spent, last_order_at)",
            f"Returned {len(orders['data'])} rows (columns: id, user_id, status)"]
        audit = owner_conn.execute("select verdict, command, user_id::text from ai.sql_audit where sql = %s",
                                   (inserted["query"],)).fetchall()
        assert audit == [("executed", "INSERT", ALICE)]
    finally:
        owner_conn.execute("delete from public.orders where id = %s", (new["id"],))


def test_two_users_same_call_see_their_own_rows(chat, llm):
    seen = {}
    for user in (ALICE, BOB):
        client = chat(user)
        conversation = client.start_chat(BOT)["conversation_id"]
        llm.reply_tool_calls([{"name": "query_table", "arguments": {"table": "orders", "select": "user_id"}}])
        llm.reply_text("Here they are.")
        events = client.ask(conversation, "List my orders")
        assert events[-1]["type"] == "done", events[-1]
        seen[user] = {r["user_id"] for r in results(events)[0]["data"]}
    assert seen == {ALICE: {ALICE}, BOB: {BOB}}


def test_refusals_reach_the_model_and_the_client(chat, llm, owner_conn):
    client = chat()
    conversation = client.start_chat(BOT)["conversation_id"]
    llm.reply_tool_calls([
        {"name": "insert_record", "arguments": {"table": "customers", "data": {"name": "x"}}},
        {"name": "query_table", "arguments": {"table": "orders", "filter": {'id" or 1=1 --': "eq.1"}}},
        {"name": "update_record", "arguments": {"table": "orders", "data": {"status": "paid"}, "filter": {"id": "eq.1"}}},
    ])
    llm.reply_text("I cannot do that.")
    events = client.ask(conversation, "Make me a customer and pay order 1")
    assert events[-1]["type"] == "done", events[-1]
    hostile = ("filter: public.orders has no column 'id\" or 1=1 --' (columns: id, user_id, customer_id, status, "
               "total, created_at)")
    assert sorted(r["error"] for r in results(events)) == sorted(["Table not allowed: public.customers", hostile])
    tools = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"]
    assert sorted(tools) == sorted(["Error: Table not allowed: public.customers", "Error: " + hostile,
                                    "Error: tool 'update_record' is not available to this chatbot"])
    assert owner_conn.execute("select status from public.orders where id = 1").fetchone() == ("delivered",)
