"""Schema retrieval through real turns: a chatbot over a 120-table schema (above SCHEMA_RETRIEVAL_MIN_TABLES)
is told only the tables relevant to the conversation and offered describe_table for the rest; a chatbot
over a few tables gets today's prompt, every table described and no describe_table."""
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from app.chat.schema import describe_tables
from app.chatbots.sync_service import sync_payload
from app.sql.guard import AccessPolicy
from tests.support import large_schema
from tests.support.llm_script import ToolCall

SCHEMA = "retrieval_e2e"
# The first turn over a new schema embeds its 120 tables in the worker (once; seconds on two cores).
FIRST_TURN_SECONDS = 180


@pytest.fixture(scope="module")
def large(database):
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        large_schema.build(conn, SCHEMA, 120)
    yield
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")


def _chatbot(database, allowed_schemas: str, allowed_tables: str | None = None) -> str:
    namespace = f"retrieval-{uuid.uuid4().hex[:8]}"
    tables = f" * @fluxbase:allowed-tables {allowed_tables}\n" if allowed_tables else ""
    code = ("/**\n * Company data\n * @fluxbase:description the whole company database\n" + tables +
            f" * @fluxbase:allowed-schemas {allowed_schemas}\n * @fluxbase:allowed-operations SELECT\n"
            " * @fluxbase:rate-limit 600\n * @fluxbase:daily-limit 100000\n */\n"
            "export default `You answer questions about the company's data.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "company", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return namespace


def _described(system: str) -> set[str]:
    return {line[2:].split("(", 1)[0] for line in system.splitlines() if line.startswith("- ")}


def _tools(request) -> set[str]:
    return {tool["function"]["name"] for tool in request.tools}


def test_a_large_schema_describes_only_the_retrieved_tables(chat, llm, database, large):
    namespace = _chatbot(database, SCHEMA)
    client = chat()
    conversation = client.start_chat("company", namespace=namespace)["conversation_id"]
    llm.reply_tool_calls([ToolCall("describe_table", {"table": "hr_benefits"})])
    llm.reply_text("Here is what I found.")
    events = client.ask(conversation, "Which customers have overdue invoices, and how much do they owe?",
                        timeout=FIRST_TURN_SECONDS)
    assert events[-1]["type"] == "done", events[-1]
    first, second = llm.chat_requests()[-2:]
    system = first.messages[0]["content"]
    described = _described(system)
    assert {"billing_invoices", "crm_customers"} <= described and len(described) == 15
    assert "hr_benefits" not in described and "support_tickets" not in described
    assert "These are 15 of the 120 tables you may use" in system
    assert "- billing_invoices(id integer, customer_id integer -> crm_customers" in system
    assert {"execute_sql", "describe_table"} <= _tools(first)
    # describe_table answered with the table's full description, as the end user may see it.
    result = next(m for m in second.messages if m["role"] == "tool")["content"]
    assert result.startswith("Table hr_benefits: Benefit plans") and "- monthly_cost numeric" in result

    # The next turn keeps the table the conversation used, whatever the question.
    llm.reply_text("Noted.")
    assert client.ask(conversation, "Thanks, that is all.", timeout=60)[-1]["type"] == "done"
    assert "hr_benefits" in _described(llm.last_request().messages[0]["content"])


def test_retrieval_sees_only_what_the_role_may_read(chat, llm, database, large, owner_conn):
    owner_conn.execute(f"grant usage on schema {SCHEMA} to anon")
    owner_conn.execute(f"grant select on all tables in schema {SCHEMA} to anon")
    owner_conn.execute(f"revoke select on {SCHEMA}.billing_invoices from anon")
    try:
        namespace = f"retrieval-{uuid.uuid4().hex[:8]}"
        code = ("/**\n * Company data\n * @fluxbase:description anonymous company data\n"
                f" * @fluxbase:allowed-schemas {SCHEMA}\n * @fluxbase:allowed-operations SELECT\n"
                " * @fluxbase:allow-unauthenticated true\n * @fluxbase:rate-limit 600\n"
                " * @fluxbase:daily-limit 100000\n */\nexport default `You answer questions.`;\n")
        report = sync_payload(database, namespace=namespace, chatbots=[{"name": "company", "code": code}],
                              delete_missing=False, dry_run=False)
        assert not report.errors, report.errors
        client = chat(user_id=None, role="none")
        conversation = client.start_chat("company", namespace=namespace)["conversation_id"]
        llm.reply_tool_calls([ToolCall("describe_table", {"table": "billing_invoices"})])
        llm.reply_text("Nothing.")
        events = client.ask(conversation, "Which customers have overdue invoices?", timeout=FIRST_TURN_SECONDS)
        assert events[-1]["type"] == "done", events[-1]
        first, second = llm.chat_requests()[-2:]
        system = first.messages[0]["content"]
        assert "billing_invoices" not in system and "of the 119 tables you may use" in system
        result = next(m for m in second.messages if m["role"] == "tool")["content"]
        assert result.startswith("Error: No table 'billing_invoices' among the tables you may use")
    finally:
        owner_conn.execute(f"revoke all on all tables in schema {SCHEMA} from anon")
        owner_conn.execute(f"revoke usage on schema {SCHEMA} from anon")


def test_a_small_schema_keeps_todays_prompt(chat, llm, database):
    namespace = _chatbot(database, "public", "customers,products,orders,order_items")
    client = chat()
    conversation = client.start_chat("company", namespace=namespace)["conversation_id"]
    llm.reply_text("Four tables.")
    assert client.ask(conversation, "Which customers have overdue invoices?")[-1]["type"] == "done"
    request = llm.last_request()
    system = request.messages[0]["content"]
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        today = describe_tables(conn, AccessPolicy.from_config(["customers", "products", "orders", "order_items"],
                                                               ["public"], ["SELECT"]), "authenticated")
    assert f"Tables you may query with execute_sql (name(column type, ...)):\n{today}\n\n" in system
    assert "describe_table" not in system and "describe_table" not in _tools(request)
