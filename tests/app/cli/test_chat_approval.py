"""`fluxbase chat` with a chatbot that asks before writes (docs/approval.md), in a pseudo-terminal:
the preview table and the SQL are shown, "Run it? [y/N]" asks, y runs it, anything else denies."""
from __future__ import annotations

import pexpect
import pytest

from tests.app.cli.test_commands_chat import PROMPT, fluxbase_chat, started  # noqa: F401 - the fixture
from tests.conftest import ALICE

CODE = ("/**\n * CLI approvals\n *\n * @fluxbase:description Asks before it changes orders\n"
        " * @fluxbase:allowed-tables orders\n * @fluxbase:allowed-operations SELECT,UPDATE\n"
        " * @fluxbase:approval execute_sql:UPDATE=ask\n * @fluxbase:rate-limit 600\n */\n"
        "export default `You manage orders.`;\n")
NAMESPACE = "cli-approval"


@pytest.fixture(scope="module")
def approver(web, database):
    from app.chatbots.sync_service import sync_payload

    assert not sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "approver", "code": CODE}],
                            delete_missing=False, dry_run=False).errors
    return NAMESPACE


@pytest.fixture
def first_order(owner_conn):
    order_id, status = owner_conn.execute(
        "select id, status from public.orders where user_id = %s order by id limit 1", (ALICE,)).fetchone()
    yield order_id, status
    owner_conn.execute("update public.orders set status = %s where id = %s", (status, order_id))


def status_of(owner_conn, order_id):
    return owner_conn.execute("select status from public.orders where id = %s", (order_id,)).fetchone()[0]


def test_the_preview_is_shown_and_y_runs_it_anything_else_denies(fluxbase_chat, web, llm, approver,  # noqa: F811
                                                                  first_order, owner_conn):
    order_id, before = first_order
    assert before != "pending"
    child = fluxbase_chat("approver", "--namespace", approver, "--url", web)
    started(child)
    sql = f"UPDATE orders SET status = 'pending' WHERE id = {order_id}"
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": sql, "description": "Reopen my order"}}])
    llm.reply_text("Your order is pending again.")
    child.sendline("reopen my first order")
    child.expect_exact("approval needed:")
    child.expect_exact("Reopen my order")
    child.expect("UPDATE")                 # the SQL, laid out
    child.expect("status")                 # the preview table's header
    child.expect("pending")                # the row as it would be
    child.expect_exact("changes 1 row(s)")
    child.expect_exact("Run it? [y/N] ")
    assert status_of(owner_conn, order_id) == before   # previewed, not run
    child.sendline("y")
    child.expect_exact("approved")
    child.expect_exact("Your order is pending again.")
    child.expect_exact(PROMPT)
    assert status_of(owner_conn, order_id) == "pending"

    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {
        "sql": f"UPDATE orders SET status = 'cancelled' WHERE id = {order_id}", "description": "Cancel it"}}])
    llm.reply_text("I left it as it is.")
    child.sendline("cancel it")
    child.expect_exact("Run it? [y/N] ")
    child.sendline("")                     # the default is no
    child.expect_exact("denied: declined in fluxbase chat")
    child.expect_exact("I left it as it is.")
    child.expect_exact(PROMPT)
    assert status_of(owner_conn, order_id) == "pending"
    told = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"][-1]
    assert "did not approve" in told
    child.sendline("/quit")
    child.expect(pexpect.EOF)
