"""Approval before writes in the Python SDK (docs/approval.md): ask() yields an ApprovalRequired event
with the preview, chat.approve() runs the call, chat.deny() runs nothing; the callbacks get both."""
from __future__ import annotations

import threading
import uuid

from fluxbase_sdk import ApprovalRequired, ApprovalResult, Done, QueryResult

from tests.conftest import ALICE

BOT = ("/**\n * SDK approvals\n *\n * @fluxbase:description Asks before it changes orders\n"
       " * @fluxbase:allowed-tables orders\n * @fluxbase:allowed-operations SELECT,UPDATE\n"
       " * @fluxbase:approval execute_sql:UPDATE=ask\n * @fluxbase:rate-limit 600\n */\n"
       "export default `You manage orders.`;\n")
SQL = "UPDATE orders SET status = status WHERE id = (SELECT min(id) FROM orders)"


def approving(admin):
    namespace = f"py-approval-{uuid.uuid4().hex[:8]}"
    report = admin.sync(namespace=namespace, chatbots=[{"name": "approver", "code": BOT}])
    assert report["summary"]["created"] == 1, report
    return namespace


def script_update(llm, answer="Done."):
    llm.reply_tool_calls([{"name": "execute_sql", "arguments": {"sql": SQL, "description": "Touch my first order"}}])
    llm.reply_text(answer)


def test_ask_yields_the_approval_and_approve_runs_the_statement(open_chat, admin, llm, owner_conn):
    namespace = approving(admin)
    chat = open_chat()
    cid = chat.start_chat("approver", namespace)
    script_update(llm)
    seen = []
    for event in chat.ask(cid, "Touch my first order", timeout=20):
        seen.append(event)
        if isinstance(event, ApprovalRequired):
            assert not [e for e in seen if isinstance(e, QueryResult)]
            chat.approve(cid, event.approval_id)
    [asked] = [e for e in seen if isinstance(e, ApprovalRequired)]
    assert (asked.tool, asked.description, asked.conversation_id) == ("execute_sql", "Touch my first order", cid)
    assert asked.sql.startswith("UPDATE orders\nSET status = status")
    assert (asked.preview["kind"], asked.preview["row_count"]) == ("sql", 1) and asked.expires_at
    [result] = [e for e in seen if isinstance(e, ApprovalResult)]
    assert (result.approval_id, result.decision) == (asked.approval_id, "approved")
    [query] = [e for e in seen if isinstance(e, QueryResult)]
    assert (query.query, query.summary) == (SQL, "Updated 1 row")
    assert isinstance(seen[-1], Done)
    assert owner_conn.execute("select status, decided_by::text from ai.approvals where id = %s",
                              (asked.approval_id,)).fetchone() == ("approved", ALICE)


def test_the_callbacks_get_the_approval_and_deny_runs_nothing(open_chat, admin, llm):
    namespace = approving(admin)
    calls: list[tuple] = []
    ended = threading.Event()
    holder: dict = {}

    def on_approval_required(approval, conversation_id):
        calls.append(("required", approval, conversation_id))
        holder["chat"].deny(conversation_id, approval.approval_id, "not today")

    chat = open_chat(on_approval_required=on_approval_required,
                     on_approval_result=lambda approval_id, decision, cid: calls.append(("result", approval_id,
                                                                                          decision, cid)),
                     on_query_result=lambda *args: calls.append(("query",)),
                     on_done=lambda usage, cid: ended.set())
    holder["chat"] = chat
    cid = chat.start_chat("approver", namespace)
    script_update(llm, "Left it alone.")
    chat.send_message(cid, "Touch my first order")
    assert ended.wait(20), calls
    required, result = calls
    assert required[0] == "required" and isinstance(required[1], ApprovalRequired) and required[2] == cid
    assert result == ("result", required[1].approval_id, "denied", cid)
    told = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"][0]
    assert "did not approve" in told and "not today" in told
