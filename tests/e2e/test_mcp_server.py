"""The MCP server process end to end: the SDK's own client over streamable HTTP, real JWTs, the demo
shop's row-level security, the chatbot's scope."""
import json

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from app.chatbots import repository as chatbots
from app.tools.registry import default_registry
from tests.conftest import ALICE, BOB, TEST_SERVICE_KEY, token_for
from tests.support.mcp import bearer, rows_of, serving_mcp, with_client

NAMESPACE = "mcp-tests"


def _bot(tools: str, tables: str = "customers,products,orders", anon: bool = False) -> str:
    return ("/**\n * MCP test bot\n * @fluxbase:description MCP tests\n"
            f" * @fluxbase:allowed-tables {tables}\n * @fluxbase:allowed-operations SELECT\n"
            f" * @fluxbase:mcp-tools {tools}\n * @fluxbase:allow-unauthenticated {str(anon).lower()}\n */\n"
            "export default `You answer questions about the shop.`;\n")


@pytest.fixture(scope="module")
def mcp_bots(database):
    from app.chatbots.sync_service import sync_payload

    bots = [{"name": "sql", "code": _bot("execute_sql")},
            {"name": "query", "code": _bot("query_table")},
            {"name": "anon", "code": _bot("execute_sql", tables="products", anon=True)},
            {"name": "off", "code": _bot("execute_sql")}]
    report = sync_payload(database, namespace=NAMESPACE, chatbots=bots, delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    with database_conn(database) as conn:
        chatbots.set_enabled(conn, chatbots.get_by_name(conn, NAMESPACE, "off").id, False)
        conn.commit()
    return NAMESPACE


def database_conn(settings):
    import psycopg
    from psycopg.rows import dict_row

    return psycopg.connect(settings.database_url, row_factory=dict_row)


@pytest.fixture(scope="module")
def mcp_process(base_env, database, workdir, mcp_bots):
    with serving_mcp(base_env, workdir) as served:
        yield served


@pytest.fixture
def mcp_url(mcp_process):
    return mcp_process[0]


def url_for(base: str, chatbot: str, namespace: str = NAMESPACE) -> str:
    return f"{base}?chatbot={chatbot}&namespace={namespace}"


def _own_order_ids(owner_conn, user_id: str) -> list[int]:
    return [r[0] for r in owner_conn.execute("select id from public.orders where user_id = %s order by id",
                                             (user_id,)).fetchall()]


async def _list_tools(client):
    return (await client.list_tools()).tools


def test_lists_exactly_the_tools_the_chatbot_offers(mcp_url):
    tools = with_client(url_for(mcp_url, "sql"), bearer(token_for(ALICE)), _list_tools)
    assert [tool.name for tool in tools] == ["execute_sql"]
    definition = default_registry().definition("execute_sql")
    assert tools[0].description == definition["description"]
    assert tools[0].input_schema == definition["parameters"]


def _sql_call(sql: str):
    async def use(client):
        return await client.call_tool("execute_sql", {"sql": sql, "description": "orders"})
    return use


def test_alice_gets_only_her_rows_and_bob_only_his(mcp_url, owner_conn):
    sql = "SELECT id, user_id FROM orders ORDER BY id"
    for user in (ALICE, BOB):
        result = with_client(url_for(mcp_url, "sql"), bearer(token_for(user)), _sql_call(sql))
        assert result.is_error is False, result
        rows = rows_of(result)
        assert rows and {row["user_id"] for row in rows} == {user}
        assert [row["id"] for row in rows] == _own_order_ids(owner_conn, user)
        # The model's view is the text: a summary and a sample, as in a chat turn.
        assert result.content[0].text.startswith(f"Returned {len(rows)} row")
    audit = owner_conn.execute(
        "select a.user_id::text, a.verdict, b.name from ai.sql_audit a join ai.chatbots b on b.id = a.chatbot_id "
        "where a.sql = %s order by a.id desc limit 2", (sql,)).fetchall()
    assert audit == [(BOB, "executed", "sql"), (ALICE, "executed", "sql")]


def test_query_table_returns_only_the_callers_rows(mcp_url, owner_conn, mcp_process):
    if "query_table" not in default_registry():
        pytest.skip("query_table is not registered on this server yet")

    async def use(client):
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert names == ["query_table"]
        return await client.call_tool("query_table", {"table": "orders", "select": ["id", "user_id"]})

    for user in (ALICE, BOB):
        result = with_client(url_for(mcp_url, "query"), bearer(token_for(user)), use)
        assert result.is_error is False, (result, mcp_process[1].log_text()[-4000:])
        rows = rows_of(result)
        assert sorted(row["id"] for row in rows) == _own_order_ids(owner_conn, user)
        assert {row["user_id"] for row in rows} == {user}


def test_the_chatbots_allow_lists_still_apply(mcp_url):
    result = with_client(url_for(mcp_url, "sql"), bearer(token_for(ALICE)),
                         _sql_call("SELECT id FROM locations"))
    assert result.is_error is True and "locations" in result.content[0].text

    async def other_tool(client):
        return await client.call_tool("http_get", {"url": "https://example.com/"})
    result = with_client(url_for(mcp_url, "sql"), bearer(token_for(ALICE)), other_tool)
    assert result.is_error is True and "not available to this chatbot" in result.content[0].text


def test_the_chatbot_may_be_named_in_headers(mcp_url):
    headers = {**bearer(token_for(ALICE)), "X-Fluxbase-Chatbot": "sql", "X-Fluxbase-Namespace": NAMESPACE}
    assert [tool.name for tool in with_client(mcp_url, headers, _list_tools)] == ["execute_sql"]


def test_the_service_key_gets_no_more_than_an_anonymous_user(mcp_url):
    headers = {"Authorization": f"Bearer {TEST_SERVICE_KEY}"}
    products = with_client(url_for(mcp_url, "sql"), headers, _sql_call("SELECT id FROM products"))
    assert products.is_error is False and rows_of(products)
    orders = with_client(url_for(mcp_url, "sql"), headers, _sql_call("SELECT id FROM orders"))
    assert orders.is_error is True and "permission denied" in orders.content[0].text.lower()


def test_anonymous_use_only_where_the_chatbot_allows_it(mcp_url):
    result = with_client(url_for(mcp_url, "anon"), {}, _sql_call("SELECT id FROM products"))
    assert result.is_error is False and rows_of(result)
    with pytest.raises(BaseException) as refused:
        with_client(url_for(mcp_url, "sql"), {}, _list_tools)
    assert _mcp_error_in(refused.value)


def _mcp_error_in(exc: BaseException) -> bool:
    if isinstance(exc, MCPError):
        return True
    return any(_mcp_error_in(e) for e in getattr(exc, "exceptions", ()))


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "raw", "version": "0"}}}


def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    return httpx2.post(url, json=INITIALIZE, timeout=10,
                       headers={"Accept": "application/json, text/event-stream", **headers})


@pytest.mark.parametrize("headers, code", [
    ({}, "AUTH_REQUIRED"),
    ({"Authorization": "Bearer not-a-jwt"}, "AUTH_INVALID"),
    ({"Authorization": f"Bearer {token_for(ALICE)[:-4]}AAAA"}, "AUTH_INVALID"),
    ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, "AUTH_INVALID"),
    ({"X-Service-Key": "wrong-key"}, "AUTH_INVALID"),
])
def test_missing_or_invalid_credentials_are_401(mcp_url, headers, code):
    response = _post(url_for(mcp_url, "sql"), headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code and response.json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_expired_token_is_401(mcp_url):
    from app.auth.tokens import mint
    from tests.conftest import TEST_SECRET

    expired = mint(TEST_SECRET, role="authenticated", user_id=ALICE, ttl_seconds=-3600)
    response = _post(url_for(mcp_url, "sql"), bearer(expired))
    assert response.status_code == 401 and response.json()["code"] == "AUTH_INVALID"
    assert "expired" in response.json()["error"]


@pytest.mark.parametrize("chatbot, namespace, status, code", [
    ("nope", NAMESPACE, 404, "CHATBOT_NOT_FOUND"),
    ("off", NAMESPACE, 404, "CHATBOT_NOT_FOUND"),       # disabled
    ("sql", "default", 404, "CHATBOT_NOT_FOUND"),       # another namespace
    ("Bad Name", NAMESPACE, 400, "INVALID_REQUEST"),
])
def test_an_unknown_or_disabled_chatbot_is_a_clear_error(mcp_url, chatbot, namespace, status, code):
    response = _post(mcp_url, {**bearer(token_for(ALICE)), "X-Fluxbase-Chatbot": chatbot,
                               "X-Fluxbase-Namespace": namespace})
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_no_chatbot_named_or_a_token_in_the_url_is_400(mcp_url):
    response = _post(mcp_url, bearer(token_for(ALICE)))
    assert response.status_code == 400 and "X-Fluxbase-Chatbot" in response.json()["error"]
    response = _post(f"{url_for(mcp_url, 'sql')}&token={token_for(ALICE)}", {})
    assert response.status_code == 400 and "Authorization" in response.json()["error"]


def test_a_bad_chatbot_fails_the_sdk_client(mcp_url):
    with pytest.raises(BaseException) as refused:
        with_client(url_for(mcp_url, "nope"), bearer(token_for(ALICE)), _list_tools)
    assert _mcp_error_in(refused.value)


def test_the_schema_is_listed_and_read_as_resources(mcp_url):
    async def use(client):
        listed = (await client.list_resources()).resources
        texts = {str(r.uri): (await client.read_resource(str(r.uri))).contents[0] for r in listed}
        return listed, texts

    listed, contents = with_client(url_for(mcp_url, "sql"), bearer(token_for(ALICE)), use)
    uris = [str(r.uri) for r in listed]
    assert uris == [f"schema://{NAMESPACE}/sql", f"schema://{NAMESPACE}/sql.json"]
    markdown = contents[uris[0]]
    assert markdown.mime_type == "text/markdown"
    assert "- orders(id integer, user_id uuid" in markdown.text and "locations" not in markdown.text
    data = json.loads(contents[uris[1]].text)
    assert sorted(t["name"] for t in data["tables"]) == ["customers", "orders", "products"]
    orders = next(t for t in data["tables"] if t["name"] == "orders")
    assert {"name": "user_id", "type": "uuid"} in orders["columns"]


def test_the_schema_follows_the_callers_role_and_no_other_chatbot_is_readable(mcp_url):
    async def use(client):
        text = (await client.read_resource(f"schema://{NAMESPACE}/sql")).contents[0].text
        try:
            await client.read_resource(f"schema://{NAMESPACE}/anon")
        except MCPError as exc:
            return text, exc
        return text, None

    text, refused = with_client(url_for(mcp_url, "sql"), {"Authorization": f"Bearer {TEST_SERVICE_KEY}"}, use)
    # As anon (what a service-key caller runs as), orders and customers are not readable.
    assert "- products(" in text and "orders(" not in text and "customers(" not in text
    assert refused is not None and "unknown resource" in str(refused)


def test_the_demo_order_management_chatbot_as_alice(mcp_url, database, owner_conn):
    """The issue's "done when": a client connected as a demo user lists the tools and queries only their rows."""
    from app.chatbots.sync_service import sync_payload
    from tests.support.processes import ROOT

    code = (ROOT / "chatbots" / "order-management" / "index.ts").read_text()
    report = sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "order-management", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    registry = default_registry()

    async def use(client):
        names = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("query_table", {"table": "orders", "select": ["id", "user_id", "total"],
                                                        "order": "id.asc"})
        schema = (await client.read_resource(f"schema://{NAMESPACE}/order-management")).contents[0].text
        return names, result, schema

    names, result, schema = with_client(url_for(mcp_url, "order-management"), bearer(token_for(ALICE)), use)
    assert names == [n for n in ("query_table", "insert_record", "invoke_function") if n in registry]
    assert result.is_error is False, result
    assert [row["id"] for row in rows_of(result)] == _own_order_ids(owner_conn, ALICE)
    assert "- orders(id integer, user_id uuid" in schema


def test_concurrent_callers_never_see_each_others_rows(mcp_url, owner_conn):
    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    seen: dict[str, list[set]] = {ALICE: [], BOB: []}

    async def caller(user: str):
        async with httpx2.AsyncClient(headers=bearer(token_for(user)), timeout=30) as http:
            async with Client(streamable_http_client(url_for(mcp_url, "sql"), http_client=http)) as client:
                for _ in range(5):
                    result = await client.call_tool("execute_sql", {"sql": "SELECT id, user_id FROM orders",
                                                                    "description": "orders"})
                    seen[user].append({row["user_id"] for row in rows_of(result)})

    async def main():
        async with anyio.create_task_group() as group:
            for user in (ALICE, BOB, ALICE, BOB):
                group.start_soon(caller, user)

    anyio.run(main)
    assert seen[ALICE] == [{ALICE}] * 10 and seen[BOB] == [{BOB}] * 10


@pytest.mark.parametrize("headers", [{}, bearer(token_for(ALICE))])
def test_a_get_stream_is_refused_at_once_rather_than_held_open(mcp_url, headers):
    # Stateless: such a stream could never carry anything, yet the SDK held it (and the connection) forever.
    response = httpx2.get(url_for(mcp_url, "query"), timeout=5, headers={"Accept": "text/event-stream", **headers})
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.json()["code"] == "METHOD_NOT_ALLOWED"


def test_a_body_past_the_transports_default_reaches_the_tool_and_one_past_the_storage_room_is_413(mcp_url, database):
    from app.mcp_server.server import max_request_bytes

    def call(table: str) -> httpx2.Response:
        body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "query_table", "arguments": {"table": table}}}
        return httpx2.post(url_for(mcp_url, "query"), json=body, timeout=30,
                           headers={"Accept": "application/json, text/event-stream", **bearer(token_for(ALICE))})

    # An upload_object of STORAGE_MAX_OBJECT_BYTES as base64 is larger than the SDK's 4 MiB default.
    response = call("x" * (5 << 20))
    assert response.status_code == 200, response.text[:200]
    assert response.json()["result"]["isError"] is True  # the tool's own refusal of a silly table name
    assert call("x" * max_request_bytes(database)).status_code == 413


def test_a_client_that_gives_up_stops_its_sql(mcp_url, owner_conn):
    import time

    from tests.support.processes import wait_until

    # A marker in a comment tells this statement apart in pg_stat_activity.
    sql = "select count(*) /* mcp-gives-up */ from generate_series(1, 2000000000) as g"
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "execute_sql", "arguments": {"sql": sql}}}
    running = ("select count(*) from pg_stat_activity where state = 'active' and query like '%mcp-gives-up%' "
               "and pid <> pg_backend_pid()")
    started = time.monotonic()
    with pytest.raises(httpx2.TimeoutException):
        httpx2.post(url_for(mcp_url, "sql"), json=body, timeout=1.5,
                    headers={"Accept": "application/json, text/event-stream", **bearer(token_for(ALICE))})
    # Well inside the 5 s statement timeout, which would otherwise be what ended it.
    wait_until(lambda: owner_conn.execute(running).fetchone()[0] == 0, 2.5, "the abandoned call's SQL to stop")
    assert time.monotonic() - started < 4.5


def test_one_user_firing_slow_calls_in_parallel_gets_a_share_and_others_are_served(mcp_url, owner_conn):
    import concurrent.futures
    import time

    from app.mcp_server.capacity import MAX_CALLS_PER_CALLER
    from tests.support.processes import wait_until

    def call(user: str, sql: str) -> dict:
        body = {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                "params": {"name": "execute_sql", "arguments": {"sql": sql}}}
        return httpx2.post(url_for(mcp_url, "sql"), json=body, timeout=30,
                           headers={"Accept": "application/json, text/event-stream",
                                    **bearer(token_for(user))}).json()["result"]

    slow = "select count(*) /* mcp-share */ from generate_series(1, 2000000000) as g"  # to the 5 s timeout
    running = ("select count(*) from pg_stat_activity where state = 'active' and query like '%mcp-share%' "
               "and pid <> pg_backend_pid()")
    with concurrent.futures.ThreadPoolExecutor(MAX_CALLS_PER_CALLER + 3) as pool:
        bobs = [pool.submit(call, BOB, slow) for _ in range(MAX_CALLS_PER_CALLER + 2)]
        # What is measured is Alice's call while Bob's share of calls runs.
        wait_until(lambda: owner_conn.execute(running).fetchone()[0] == MAX_CALLS_PER_CALLER, 4, "Bob's calls")
        started = time.monotonic()
        alice = call(ALICE, "select 1 as one")
        assert time.monotonic() - started < 2.5 and not alice["isError"]
        texts = [future.result()["content"][0]["text"] for future in bobs]
    refused = [text for text in texts if "too many tool calls at once" in text]
    assert len(refused) == 2, texts


def test_a_token_in_the_url_does_not_reach_the_access_log(mcp_url, mcp_process):
    from tests.support.processes import wait_until

    token = token_for(ALICE)
    assert _post(f"{url_for(mcp_url, 'sql')}&token={token}", {}).status_code == 400
    proc = mcp_process[1]
    wait_until(lambda: "&token=[redacted]" in proc.log_text(), 5, "the refused request in the access log")
    assert token not in proc.log_text() and token.split(".")[2] not in proc.log_text()


def test_a_call_the_chatbot_would_ask_approval_for_is_refused_over_mcp_and_writes_nothing(mcp_url, database,
                                                                                           owner_conn):
    """order-management asks before insert_record; an MCP connection has nobody to ask (MCP_APPROVAL=refuse)."""
    from app.chatbots.sync_service import sync_payload
    from tests.support.processes import ROOT

    code = (ROOT / "chatbots" / "order-management" / "index.ts").read_text()
    assert "insert_record=ask" in code
    report = sync_payload(database, namespace=NAMESPACE, chatbots=[{"name": "order-management", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    before = owner_conn.execute("select count(*) from public.orders").fetchone()[0]

    async def use(client):
        return await client.call_tool("insert_record", {"table": "orders", "data": {
            "user_id": ALICE, "status": "pending", "total": 1.0}})

    result = with_client(url_for(mcp_url, "order-management"), bearer(token_for(ALICE)), use)
    assert result.is_error is True
    text = " ".join(part.text for part in result.content)
    assert "needs a person's approval" in text and "nothing was run" in text
    assert owner_conn.execute("select count(*) from public.orders").fetchone()[0] == before
