"""`@fluxbase:use-mcp-schema` through a real turn: the system prompt's schema comes from the cached
resource the MCP server serves (not a catalog query per turn), and an ALTER or a GRANT shows in the next
turn once the fingerprint is checked again."""
import json
import uuid

import pytest
import redis

from app.mcp_schema import FINGERPRINT_KEY
from tests.conftest import ALICE, token_for
from tests.support.mcp import bearer, serving_mcp, with_client

PROBE = "mcp_prompt_probe"
MARKER = "- cached_marker_table(from the cache, not the catalog)"


@pytest.fixture
def probe_schema(owner_conn):
    owner_conn.execute(f"drop schema if exists {PROBE} cascade")
    owner_conn.execute(f"create schema {PROBE}")
    owner_conn.execute(f"grant usage on schema {PROBE} to authenticated")
    owner_conn.execute(f"create table {PROBE}.things (id integer)")
    owner_conn.execute(f"create table {PROBE}.secret_things (id integer)")
    owner_conn.execute(f"grant select on {PROBE}.things to authenticated")
    yield
    owner_conn.execute(f"drop schema if exists {PROBE} cascade")


def _chatbot(database) -> tuple[str, str]:
    from app.chatbots.sync_service import sync_payload

    namespace = f"schema-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Schema from MCP\n * @fluxbase:description the cached schema\n"
            f" * @fluxbase:allowed-tables orders,{PROBE}.things,{PROBE}.secret_things\n"
            " * @fluxbase:allowed-operations SELECT\n * @fluxbase:use-mcp-schema\n */\n"
            "export default `You answer questions about orders.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "cached", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return namespace, "cached"


def _system_prompt(llm) -> str:
    return llm.last_request().messages[0]["content"]


def _cached_entries(client: redis.Redis) -> list[str]:
    return [key for key in client.scan_iter("fluxbase:schema:entry:*")
            if f"{PROBE}.things" in json.loads(client.get(key) or "{}").get("text", "")]


def test_the_prompt_schema_is_the_cached_resource_until_the_catalog_changes(
        chat, llm, database, probe_schema, owner_conn, base_env, workdir):
    namespace, name = _chatbot(database)
    client = chat()
    conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
    cache = redis.Redis.from_url(database.redis_url, decode_responses=True)
    cache.delete(FINGERPRINT_KEY)

    llm.reply_text("first")
    assert client.ask(conversation, "what tables?")[-1]["type"] == "done"
    first = _system_prompt(llm)
    assert "Tables you may query with execute_sql" in first
    assert "- orders(id integer, user_id uuid" in first and f"- {PROBE}.things(id integer)" in first
    assert "secret_things" not in first  # not granted to authenticated

    # The entry the turn used, rewritten: a turn that queried the catalog would not show it.
    entries = _cached_entries(cache)
    assert len(entries) == 1
    entry = json.loads(cache.get(entries[0]))
    cache.set(entries[0], json.dumps({**entry, "text": entry["text"] + "\n" + MARKER}), keepttl=True)
    llm.reply_text("second")
    assert client.ask(conversation, "and now?")[-1]["type"] == "done"
    assert MARKER in _system_prompt(llm)

    # The MCP server's resource is that same entry.
    with serving_mcp(base_env, workdir) as (url, _proc):
        async def read(mcp):
            return (await mcp.read_resource(f"schema://{namespace}/{name}")).contents[0].text
        resource = with_client(f"{url}?chatbot={name}&namespace={namespace}", bearer(token_for(ALICE)), read)
    assert MARKER in resource and f"- {PROBE}.things(id integer)" in resource

    owner_conn.execute(f"alter table {PROBE}.things add column note text")
    owner_conn.execute(f"grant select on {PROBE}.secret_things to authenticated")
    cache.delete(FINGERPRINT_KEY)  # MCP_SCHEMA_CHECK_SECONDS over: the next read checks the catalog
    llm.reply_text("third")
    assert client.ask(conversation, "and after the migration?")[-1]["type"] == "done"
    third = _system_prompt(llm)
    assert MARKER not in third
    assert f"- {PROBE}.things(id integer, note text)" in third and f"- {PROBE}.secret_things(id integer)" in third
    cache.close()
