"""Execution tools end to end: the scripted model calls invoke_rpc and submit_job in one turn, the turn worker
runs them as the signed-in user, the client gets the query_result and the tool_result, the model's next
request carries both results, and the jobs worker (the Procfile's `jobs` process) runs the job as that user."""
from __future__ import annotations

import uuid

from app.demo.loader import ALICE
from tests.support.processes import wait_until

CODE = """/**
 * Orders with functions
 * @fluxbase:description Order totals and summaries
 * @fluxbase:allowed-tables orders,order_items
 * @fluxbase:allowed-operations SELECT
 * @fluxbase:mcp-tools invoke_rpc,submit_job,get_job_status
 * @fluxbase:rate-limit 600
 */
export default `Use invoke_rpc for totals and submit_job for summaries.`;
"""


def _chatbot(database, owner_conn) -> str:
    from app.chatbots.sync_service import sync_payload

    namespace = f"exec-e2e-{uuid.uuid4().hex[:8]}"
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "orders", "code": CODE}],
                          delete_missing=False, dry_run=False)
    assert not report.errors and not report.warnings, (report.errors, report.warnings)
    owner_conn.execute("insert into ai.exposed_rpc (namespace, schema_name, function_name, description) "
                       "values (%s, 'public', 'order_total', 'Total of one order')", (namespace,))
    return namespace


def test_the_model_invokes_an_rpc_and_submits_a_job_as_the_user(chat, llm, database, owner_conn, jobs_worker):
    namespace = _chatbot(database, owner_conn)
    client = chat(ALICE)
    conversation = client.start_chat("orders", namespace=namespace)["conversation_id"]
    llm.reply_tool_calls([
        {"name": "invoke_rpc", "arguments": {"name": "order_total", "params": {"order_id": 1}}},
        {"name": "submit_job", "arguments": {"job_name": "demo.order_summary", "payload": {"order_id": 2}}},
    ])
    llm.reply_text("Order 1 totals 58.80; a summary of order 2 is on its way.")
    events = client.ask(conversation, "What is the total of order 1, and summarise order 2?")
    assert events[-1]["type"] == "done", events[-1]

    rpc = next(e for e in events if e["type"] == "query_result")
    assert rpc["query"] == "select * from public.order_total(order_id => '1')"
    assert rpc["data"] == [{"order_total": 58.8}] and "error" not in rpc
    job = next(e for e in events if e["type"] == "tool_result" and e["tool"] == "submit_job")
    assert "error" not in job and job["data"]["status"] == "pending"
    job_id = job["data"]["job_id"]

    tools = {t["function"]["name"] for t in llm.chat_requests()[-2].body["tools"]}
    assert {"invoke_rpc", "submit_job", "get_job_status"} <= tools
    results = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"]
    assert results[0].startswith("Returned 1 row (columns: order_total)") and '{"order_total":58.8}' in results[0]
    assert results[1].startswith(f"Job {job_id} (demo.order_summary) submitted")

    def status():
        row = owner_conn.execute("select status, result, user_id::text from ai.jobs where id = %s", (job_id,)).fetchone()
        return row if row[0] in ("succeeded", "failed") else None

    state, result, user_id = wait_until(status, 30, "the submitted job to finish")
    assert (state, user_id) == ("succeeded", ALICE)
    assert result == {"id": 2, "status": "delivered", "total": 64.0, "items": 1, "units": 1, "items_total": 64.0}
    audit = owner_conn.execute("select sql, verdict from ai.sql_audit a join ai.turns t on t.id = a.turn_id "
                               "where t.conversation_id = %s", (conversation,)).fetchall()
    assert audit == [("select * from public.order_total(order_id => '1')", "executed")]
