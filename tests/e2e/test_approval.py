"""Approval before writes (docs/approval.md) through real turns: the scripted model proposes a write,
the real worker previews it as the end user in a rolled-back transaction and waits; the owner's
`approve` runs it once, `deny` and expiry leave the data as it was and the model is told why."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import ALICE, BOB, token_for
from tests.support.chat_client import ChatClient

NAMESPACE = "approvals"
CODE = """/**
 * Approving Shop
 *
 * @fluxbase:description Changes orders only with the user's approval
 * @fluxbase:allowed-tables orders,order_items,products
 * @fluxbase:allowed-operations SELECT,INSERT,UPDATE,DELETE
 * @fluxbase:approval execute_sql:UPDATE=ask,execute_sql:INSERT=ask,execute_sql:DELETE=deny
 * @fluxbase:rate-limit 600
 * @fluxbase:daily-limit 100000
 * @fluxbase:token-budget 10000000
 */
export default `You manage the user's orders.`;
"""
# The same bot without the annotation: today's behaviour, unless the server forces `ask`.
PLAIN = CODE.replace(" * @fluxbase:approval execute_sql:UPDATE=ask,execute_sql:INSERT=ask,execute_sql:DELETE=deny\n",
                     "")


def sync(settings, namespace=NAMESPACE):
    from app.chatbots.sync_service import sync_payload

    report = sync_payload(settings, namespace=namespace, chatbots=[{"name": "approving", "code": CODE},
                                                                     {"name": "plain", "code": PLAIN}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors


@pytest.fixture(scope="module")
def approving(web, database):
    sync(database)
    return NAMESPACE


@pytest.fixture
def alice_order(owner_conn):
    """One of Alice's orders, put back as it was after the test."""
    order_id, status = owner_conn.execute(
        "select id, status from public.orders where user_id = %s order by id limit 1", (ALICE,)).fetchone()
    yield order_id
    owner_conn.execute("update public.orders set status = %s where id = %s", (status, order_id))


def status_of(owner_conn, order_id):
    return owner_conn.execute("select status from public.orders where id = %s", (order_id,)).fetchone()[0]


def update_call(order_id, status="cancelled"):
    return {"name": "execute_sql", "arguments": {"sql": f"UPDATE orders SET status = '{status}' WHERE id = {order_id}",
                                                 "description": f"Mark order {order_id} {status}"}}


def ending(client, conversation):
    return client.until(lambda e: e.get("type") in ("done", "cancelled", "error")
                        and e.get("conversation_id") == conversation, 30)


def ask_until_approval(client, conversation, text="Cancel my first order"):
    client.send({"type": "message", "conversation_id": conversation, "content": text})
    events = client.until_type("approval_required", "done", "error", timeout=30)
    assert events[-1]["type"] == "approval_required", events[-1]
    return events


def tool_messages(llm):
    return [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"]


def test_ask_shows_the_rows_it_would_change_and_runs_once_after_approval(chat, llm, approving, alice_order,
                                                                         owner_conn):
    client = chat()
    conversation = client.start_chat("approving", namespace=approving)["conversation_id"]
    llm.reply_tool_calls([update_call(alice_order)])
    llm.reply_text("Order cancelled.")
    events = ask_until_approval(client, conversation)
    asked = events[-1]
    assert asked["tool"] == "execute_sql" and asked["description"] == f"Mark order {alice_order} cancelled"
    assert asked["sql"].startswith("UPDATE orders\nSET status = 'cancelled'")
    preview = asked["preview"]
    assert (preview["kind"], preview["operation"], preview["row_count"]) == ("sql", "UPDATE", 1)
    assert preview["rows"][0]["id"] == alice_order and preview["rows"][0]["status"] == "cancelled"
    assert asked["expires_at"] and asked["message_id"] and asked["seq"]
    # The preview ran the statement and rolled it back: nothing changed yet.
    assert status_of(owner_conn, alice_order) != "cancelled"
    row = owner_conn.execute("select status, statement, tool from ai.approvals where id = %s",
                             (asked["approval_id"],)).fetchone()
    assert row == ("pending", f"UPDATE orders SET status = 'cancelled' WHERE id = {alice_order}", "execute_sql")

    client.send({"type": "approve", "approval_id": asked["approval_id"], "conversation_id": conversation})
    rest = ending(client, conversation)
    assert rest[-1]["type"] == "done", rest[-1]
    assert [e["decision"] for e in rest if e["type"] == "approval_result"] == ["approved"]
    result = next(e for e in rest if e["type"] == "query_result")
    assert result["row_count"] == 1 and not result.get("error")
    assert status_of(owner_conn, alice_order) == "cancelled"
    assert tool_messages(llm)[0].startswith("Updated 1 row")
    stored = owner_conn.execute("select status, decided_by::text, executed_at is not null from ai.approvals "
                                "where id = %s", (asked["approval_id"],)).fetchone()
    assert stored == ("approved", ALICE, True)
    # A redelivered attempt could not run it again: its one run is taken.
    from app.approvals import store
    assert store.claim_run(owner_conn, asked["approval_id"]) is False
    # Run once: one executed UPDATE in the audit trail; the preview is not audited as a run.
    audited = owner_conn.execute("select count(*) from ai.sql_audit where conversation_id = %s and verdict = "
                                 "'executed' and command = 'UPDATE'", (conversation,)).fetchone()[0]
    assert audited == 1
    # Decided: a second answer is refused with its own code.
    client.send({"type": "approve", "approval_id": asked["approval_id"], "conversation_id": conversation})
    closed = client.until_type("error")[-1]
    assert closed["code"] == "APPROVAL_CLOSED"


def test_deny_changes_nothing_and_the_model_reads_the_reason(chat, llm, approving, alice_order, owner_conn):
    client = chat()
    conversation = client.start_chat("approving", namespace=approving)["conversation_id"]
    before = status_of(owner_conn, alice_order)
    llm.reply_tool_calls([update_call(alice_order)])
    llm.reply_text("Understood, I left it.")
    asked = ask_until_approval(client, conversation)[-1]
    client.send({"type": "deny", "approval_id": asked["approval_id"], "reason": "I still want it"})
    rest = ending(client, conversation)
    assert rest[-1]["type"] == "done", rest[-1]
    assert [(e["decision"], e.get("reason")) for e in rest if e["type"] == "approval_result"] == [
        ("denied", "I still want it")]
    assert not [e for e in rest if e["type"] == "query_result"]
    assert status_of(owner_conn, alice_order) == before
    told = tool_messages(llm)[0]
    assert "did not approve" in told and "I still want it" in told and "nothing was run" in told
    assert owner_conn.execute("select status, reason from ai.approvals where id = %s",
                              (asked["approval_id"],)).fetchone() == ("denied", "I still want it")


def test_deny_mode_never_runs_and_never_asks(chat, llm, approving, alice_order, owner_conn):
    client = chat()
    conversation = client.start_chat("approving", namespace=approving)["conversation_id"]
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {
        "sql": f"DELETE FROM orders WHERE id = {alice_order}", "description": "Delete it"}}])
    llm.reply_text("I may not delete orders.")
    events = client.ask(conversation, "Delete my first order")
    assert events[-1]["type"] == "done", events[-1]
    assert not [e for e in events if e["type"].startswith("approval")]
    refused = [e for e in events if e["type"] == "query_result"]
    assert len(refused) == 1 and "denied by this assistant's approval policy" in refused[0]["error"]
    assert "denied by this assistant's approval policy" in tool_messages(llm)[0]
    assert owner_conn.execute("select count(*) from public.orders where id = %s", (alice_order,)).fetchone()[0] == 1


def test_only_the_owner_can_answer_and_unknown_ids_look_the_same(chat, llm, approving, alice_order, owner_conn):
    alice = chat()
    conversation = alice.start_chat("approving", namespace=approving)["conversation_id"]
    llm.reply_tool_calls([update_call(alice_order)])
    llm.reply_text("Done.")
    asked = ask_until_approval(alice, conversation)[-1]
    bob = chat(BOB)
    bob_conversation = bob.start_chat("approving", namespace=approving)["conversation_id"]
    answers = []
    for frame in ({"type": "approve", "approval_id": asked["approval_id"]},
                  {"type": "approve", "approval_id": asked["approval_id"], "conversation_id": bob_conversation},
                  {"type": "deny", "approval_id": asked["approval_id"], "conversation_id": conversation},
                  {"type": "approve", "approval_id": str(uuid.uuid4())},
                  {"type": "approve", "approval_id": "not-a-uuid"}):
        bob.send(frame)
        answers.append(bob.until_type("error")[-1])
    assert {a["code"] for a in answers} == {"APPROVAL_NOT_FOUND"}
    assert {a["error"] for a in answers} == {"Approval not found"}
    assert status_of(owner_conn, alice_order) != "cancelled"
    assert owner_conn.execute("select status from ai.approvals where id = %s",
                              (asked["approval_id"],)).fetchone()[0] == "pending"
    alice.send({"type": "approve", "approval_id": asked["approval_id"]})
    assert ending(alice, conversation)[-1]["type"] == "done"
    assert status_of(owner_conn, alice_order) == "cancelled"


def test_a_pending_approval_is_replayed_after_a_reconnect_and_can_be_approved_there(chat, llm, approving,
                                                                                    alice_order, owner_conn):
    first = chat()
    conversation = first.start_chat("approving", namespace=approving)["conversation_id"]
    llm.reply_tool_calls([update_call(alice_order)])
    llm.reply_text("Cancelled it.")
    asked = ask_until_approval(first, conversation)[-1]
    first.close()
    second = chat()
    started = second.start_chat("approving", namespace=approving, conversation_id=conversation,
                                last_seq=asked["seq"] - 1)
    assert started["type"] == "chat_started" and started["resumed"] is True
    replayed = second.until_type("approval_required")[-1]
    assert replayed["approval_id"] == asked["approval_id"] and replayed["preview"] == asked["preview"]
    second.send({"type": "approve", "approval_id": replayed["approval_id"]})
    rest = ending(second, conversation)
    assert rest[-1]["type"] == "done", rest[-1]
    assert status_of(owner_conn, alice_order) == "cancelled"


def test_a_cancel_while_waiting_ends_the_wait_and_nothing_runs(chat, llm, approving, alice_order, owner_conn):
    client = chat()
    conversation = client.start_chat("approving", namespace=approving)["conversation_id"]
    before = status_of(owner_conn, alice_order)
    llm.reply_tool_calls([update_call(alice_order)])
    asked = ask_until_approval(client, conversation)[-1]
    client.send({"type": "cancel", "conversation_id": conversation})
    rest = ending(client, conversation)
    assert rest[-1]["type"] == "cancelled", rest[-1]
    assert status_of(owner_conn, alice_order) == before
    assert owner_conn.execute("select status from ai.approvals where id = %s",
                              (asked["approval_id"],)).fetchone()[0] == "expired"
    client.send({"type": "approve", "approval_id": asked["approval_id"]})
    assert client.until_type("error")[-1]["code"] == "APPROVAL_CLOSED"


def test_the_server_setting_forces_ask_and_an_unanswered_approval_expires(base_env, workdir, llm, owner_conn):
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "approvals-forced",
                        env={"APPROVAL_WRITES": "ask", "APPROVAL_TIMEOUT_SECONDS": "5"}) as running:
        sync(running.settings, namespace="approvals-forced")
        order_id, before = owner_conn.execute(
            "select id, status from public.orders where user_id = %s order by id limit 1", (ALICE,)).fetchone()
        client = ChatClient(running.web, token_for(ALICE))
        try:
            # No @fluxbase:approval: the file alone would run it; the server asks, and nobody answers.
            conversation = client.start_chat("plain", namespace="approvals-forced")["conversation_id"]
            llm.reply_tool_calls([update_call(order_id)])
            llm.reply_text("It was not approved in time.")
            asked = ask_until_approval(client, conversation)[-1]
            rest = ending(client, conversation)
            assert rest[-1]["type"] == "done", rest[-1]
            assert [e["decision"] for e in rest if e["type"] == "approval_result"] == ["expired"]
            assert "did not approve" in tool_messages(llm)[0] and "expired" in tool_messages(llm)[0]
            assert status_of(owner_conn, order_id) == before
            client.send({"type": "approve", "approval_id": asked["approval_id"]})
            assert client.until_type("error")[-1]["code"] == "APPROVAL_CLOSED"
            # Reads are not writes: the forced `ask` leaves a SELECT alone.
            llm.reply_tool_calls([{"name": "execute_sql", "arguments": {
                "sql": "SELECT id FROM orders", "description": "List"}}])
            llm.reply_text("Here they are.")
            events = client.ask(conversation, "List my orders")
            assert events[-1]["type"] == "done" and not [e for e in events if e["type"].startswith("approval")]
        finally:
            client.close()
            owner_conn.execute("update public.orders set status = %s where id = %s", (before, order_id))
