"""Approval before writes on the playground's chat page (docs/approval.md), in a real browser: the
preview panel shows the rows the write would change and its SQL; the data changes only after Approve;
Deny leaves it as it was. Screenshot `approval-preview` shows the panel."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import ALICE
from tests.playground.conftest import screenshot
from tests.playground.test_chat_page import answers, ask, wait_done

NAMESPACE = "pg-approval"
CODE = ("/**\n * Playground approvals\n *\n * @fluxbase:description Asks before it changes your orders\n"
        " * @fluxbase:allowed-tables orders\n * @fluxbase:allowed-operations SELECT,UPDATE\n"
        " * @fluxbase:approval execute_sql:UPDATE=ask\n * @fluxbase:rate-limit 600\n */\n"
        "export default `You manage orders.`;\n")


@pytest.fixture(autouse=True)
def quick_failures(page):
    page.set_default_timeout(10_000)


@pytest.fixture(scope="module")
def approver(web, database):
    from app.chatbots.sync_service import sync_payload

    assert not sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "approver", "code": CODE}],
                            delete_missing=False, dry_run=False).errors
    return f"approver ({NAMESPACE})"


@pytest.fixture
def first_order(owner_conn):
    order_id, status = owner_conn.execute(
        "select id, status from public.orders where user_id = %s order by id limit 1", (ALICE,)).fetchone()
    yield order_id, status
    owner_conn.execute("update public.orders set status = %s where id = %s", (status, order_id))


@pytest.fixture
def approval_page(page, web, test_chatbots, approver):
    page.goto(web + "/")
    page.get_by_role("button", name="Sign in as alice").click()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as alice")
    page.get_by_label("Chatbot").select_option(label=approver)
    return page


def status_of(owner_conn, order_id):
    return owner_conn.execute("select status from public.orders where id = %s", (order_id,)).fetchone()[0]


def script_update(llm, order_id, status, answer):
    sql = f"UPDATE orders SET status = '{status}' WHERE id = {order_id}"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": f"Mark it {status}"}}])
    llm.reply_text(answer)


def test_a_write_shows_its_preview_and_runs_only_after_approve(approval_page, llm, first_order, owner_conn):
    page = approval_page
    order_id, before = first_order
    assert before != "pending"
    script_update(llm, order_id, "pending", "Your order is pending again.")
    ask(page, "Reopen my first order")
    panel = page.get_by_role("region", name="Approval needed before this runs")
    expect(panel).to_be_visible()
    expect(panel.locator(".approval-what")).to_have_text("execute_sql: Mark it pending")
    expect(panel.locator(".row-count")).to_have_text("would change 1 row")
    expect(panel.locator(".sql-pretty")).to_contain_text("UPDATE orders")
    expect(panel.locator(".sql-pretty")).to_contain_text("SET status = 'pending'")
    expect(panel.get_by_role("columnheader", name="status")).to_be_visible()
    expect(panel.get_by_role("cell", name="pending", exact=True)).to_be_visible()
    # The heading takes the focus, so the request is announced; the buttons are reachable by role.
    expect(panel.get_by_role("heading", name="Approval needed before this runs")).to_be_focused()
    expect(page.locator("#status")).to_have_text("Waiting for your approval...")
    screenshot(page, "approval-preview")
    assert status_of(owner_conn, order_id) == before   # previewed in a rolled-back transaction only

    panel.get_by_role("button", name="Approve").click()
    wait_done(page)
    expect(panel.get_by_role("status")).to_have_text("Approved.")
    expect(panel.get_by_role("button", name="Approve")).to_be_disabled()
    expect(answers(page).locator(".markdown")).to_have_text("Your order is pending again.")
    expect(answers(page).locator(".result:not(.approval) .summary")).to_have_text("Updated 1 row")
    assert status_of(owner_conn, order_id) == "pending"
    assert page.console_errors == []


def test_deny_with_a_reason_changes_nothing(approval_page, llm, first_order, owner_conn):
    page = approval_page
    order_id, before = first_order
    script_update(llm, order_id, "cancelled", "I left your order as it is.")
    ask(page, "Cancel my first order")
    panel = page.get_by_role("region", name="Approval needed before this runs")
    panel.get_by_label("Reason (optional, if you deny)").fill("I still want it")
    panel.get_by_role("button", name="Deny").click()
    wait_done(page)
    expect(panel.get_by_role("status")).to_have_text("Denied. Reason: I still want it")
    expect(answers(page).locator(".result:not(.approval)")).to_have_count(0)   # no query ran
    assert status_of(owner_conn, order_id) == before
    told = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"][0]
    assert "did not approve" in told and "I still want it" in told
    assert page.console_errors == []
