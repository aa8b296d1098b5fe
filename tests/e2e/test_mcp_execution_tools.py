"""The execution tools through the MCP server process (the SDK's own client over streamable HTTP): invoke_rpc as
each user under row-level security, a function outside the allow-list refused, and a job submitted by Alice
run by the jobs worker, readable by her and not by Bob."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import ALICE, BOB, token_for
from tests.support.mcp import bearer, rows_of, serving_mcp, with_client
from tests.support.processes import wait_until

TOOLS = ["invoke_rpc", "submit_job", "get_job_status"]
CODE = ("/**\n * MCP execution\n * @fluxbase:description Execution tools over MCP\n"
        " * @fluxbase:allowed-tables orders,order_items\n * @fluxbase:allowed-operations SELECT\n"
        f" * @fluxbase:mcp-tools {','.join(TOOLS)}\n */\n"
        "export default `Use the tools.`;\n")


@pytest.fixture(scope="module")
def namespace(database):
    import psycopg

    from app.chatbots.sync_service import sync_payload

    namespace = f"mcp-exec-{uuid.uuid4().hex[:8]}"
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "exec", "code": CODE}],
                          delete_missing=False, dry_run=False)
    assert not report.errors and not report.warnings, (report.errors, report.warnings)
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute("insert into ai.exposed_rpc (namespace, schema_name, function_name) "
                     "values (%s, 'public', 'order_total')", (namespace,))
    return namespace


@pytest.fixture(scope="module")
def mcp_url(base_env, workdir, namespace):
    with serving_mcp(base_env, workdir) as (url, _proc):
        yield f"{url}?chatbot=exec&namespace={namespace}"


def _call(name: str, arguments: dict):
    async def use(client):
        return await client.call_tool(name, arguments)
    return use


def test_the_tools_are_listed_and_invoke_rpc_runs_as_each_user(mcp_url):
    async def names(client):
        return [tool.name for tool in (await client.list_tools()).tools]

    assert with_client(mcp_url, bearer(token_for(ALICE)), names) == TOOLS
    call = _call("invoke_rpc", {"name": "order_total", "params": {"order_id": 1}})
    alice = with_client(mcp_url, bearer(token_for(ALICE)), call)
    assert alice.is_error is False and rows_of(alice) == [{"order_total": 58.8}]
    bob = with_client(mcp_url, bearer(token_for(BOB)), call)
    assert bob.is_error is False and rows_of(bob) == [{"order_total": None}]
    refused = with_client(mcp_url, bearer(token_for(ALICE)), _call("invoke_rpc", {"name": "pg_terminate_backend"}))
    assert refused.content[0].text.startswith("Error: no function named 'pg_terminate_backend' is exposed")


def test_a_job_submitted_over_mcp_runs_and_only_its_user_reads_it(mcp_url, owner_conn, jobs_worker):
    submitted = with_client(mcp_url, bearer(token_for(ALICE)),
                            _call("submit_job", {"job_name": "demo.order_summary", "payload": {"order_id": 3}}))
    job_id = re.match(r"Job (\S+) \(demo\.order_summary\) submitted", submitted.content[0].text).group(1)

    def status():
        text = with_client(mcp_url, bearer(token_for(ALICE)), _call("get_job_status", {"job_id": job_id}))
        return text.content[0].text if ": pending." not in text.content[0].text and \
            ": running." not in text.content[0].text else None

    text = wait_until(status, 30, "the job to finish", interval=0.3)
    assert text.startswith(f"Job {job_id} (demo.order_summary): succeeded.") and '"items_total": 31.4' in text
    bob = with_client(mcp_url, bearer(token_for(BOB)), _call("get_job_status", {"job_id": job_id}))
    assert bob.content[0].text == f"Error: no job {job_id!r} was found"
