"""Schema retrieval on real PostgreSQL over a generated 120-table schema (tests/support/large_schema.py):
ranking, foreign-key neighbours, tables the conversation used, the end user's filters, the caps, and the
table embeddings computed once."""
import json

import numpy as np
import psycopg
import pytest
from psycopg.rows import dict_row

from app.chat.records import StoredMessage
from app.chat.schema_catalog import read_catalog
from app.chat.schema_retrieval import RetrievalLimits, SchemaRetriever, select
from app.chat.table_embeddings import TableEmbeddings
from app.knowledge.embedders import local_embedder
from app.sql.guard import AccessPolicy
from tests.support import large_schema
from workers.schema_step import describe_selection, tables_used

SCHEMA = "retrieval_unit"


class CountingEmbedder:
    """The local model, counting the texts it is asked to embed."""

    def __init__(self):
        self.inner = local_embedder()
        self.name, self.model, self.dimensions = self.inner.name, self.inner.model, self.inner.dimensions
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def schema(database):
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        specs = large_schema.build(conn, SCHEMA, 120)
        conn.execute(f"revoke select on {SCHEMA}.hr_salaries from authenticated")
    yield specs
    with psycopg.connect(database.database_url, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {SCHEMA} cascade")


@pytest.fixture
def conn(database, schema):
    with psycopg.connect(database.database_url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


POLICY = AccessPolicy(frozenset({"SELECT"}), (SCHEMA,), None)


@pytest.fixture(scope="module")
def embedder(schema):
    return CountingEmbedder()


@pytest.fixture(scope="module")
def retriever(database, embedder):
    embeddings = TableEmbeddings(lambda: psycopg.connect(database.database_url), lambda: embedder)
    return SchemaRetriever(embeddings)


def _key(table):
    return (SCHEMA, table)


def test_the_catalog_is_what_the_role_may_read_with_comments_and_foreign_keys(conn):
    catalog = read_catalog(conn, POLICY, "authenticated")
    assert len(catalog) == 119 and _key("hr_salaries") not in catalog   # revoked from authenticated
    assert len(read_catalog(conn, POLICY)) == 120                       # no role: every table
    invoices = catalog[_key("billing_invoices")]
    assert invoices.comment.startswith("Invoices sent to customers")
    assert [(fk.columns, fk.ref) for fk in invoices.foreign_keys] == [(("customer_id",), _key("crm_customers"))]
    narrowed = AccessPolicy(frozenset({"SELECT"}), (SCHEMA,),
                            frozenset({_key("billing_invoices"), _key("billing_invoice_lines")}))
    only_two = read_catalog(conn, narrowed, "authenticated")
    assert set(only_two) == {_key("billing_invoices"), _key("billing_invoice_lines")}
    # A foreign key to a table the chatbot may not read is not named.
    assert only_two[_key("billing_invoices")].foreign_keys == ()
    assert [fk.ref for fk in only_two[_key("billing_invoice_lines")].foreign_keys] == [_key("billing_invoices")]


def test_ranking_finds_the_tables_a_question_needs(conn, retriever):
    catalog = read_catalog(conn, POLICY, "authenticated")
    limits = RetrievalLimits(max_tables=15)
    for question, needs in [
        ("Which customers have overdue invoices, and how much do they owe?", {"billing_invoices", "crm_customers"}),
        ("How many high priority tickets are open per queue?", {"support_tickets", "support_queues"}),
        ("What is the average delivery time per carrier?", {"shipping_shipments", "shipping_carriers"}),
    ]:
        selection = retriever.retrieve(catalog, question, [], limits)
        assert needs <= {table for _s, table in selection.tables}, (question, selection.tables)
        assert len(selection.tables) == 15 and selection.total == 119
    # The lexical part: a table named in the question outranks its look-alikes.
    scores = retriever.scores(catalog, "rows of billing_dunning_events")
    assert max(scores, key=scores.get) == _key("billing_dunning_events")


def test_neighbours_used_tables_and_caps(conn):
    catalog = read_catalog(conn, POLICY, "authenticated")
    scores = {key: 0.0 for key in catalog}
    scores[_key("billing_payments")] = 1.0
    one_seed = RetrievalLimits(max_tables=5, top_k=1, neighbours_per_table=2)
    selection = select(catalog, scores, [], one_seed)
    assert selection.tables[0] == _key("billing_payments")
    # What it references comes first among its neighbours: its invoice and its payment method.
    assert set(selection.tables[1:3]) == {_key("billing_invoices"), _key("billing_payment_methods")}
    assert selection.why[_key("billing_invoices")] == "neighbour"
    assert len(selection.tables) == 5 and all(selection.why[k] == "filled" for k in selection.tables[3:])
    # Tables the conversation used come first, whatever their scores, and the cap holds.
    used = [_key("hr_trainings"), _key("marketing_segments"), _key("no_such_table")]
    selection = select(catalog, scores, used, one_seed)
    assert selection.tables[:2] == (_key("hr_trainings"), _key("marketing_segments"))
    assert selection.why[_key("hr_trainings")] == "used" and len(selection.tables) == 5
    many_used = [key for key in catalog][:9]
    assert select(catalog, scores, many_used, one_seed).tables == tuple(many_used[:5])
    # A table outside the catalog (not readable, not allowed) is never chosen, even if "used".
    assert _key("hr_salaries") not in select(catalog, scores, [_key("hr_salaries")], one_seed).tables


def test_tables_used_come_from_the_conversations_tool_calls():
    policy = AccessPolicy(frozenset({"SELECT"}), (SCHEMA,), None)
    catalog = {key: None for key in [_key("crm_customers"), _key("billing_invoices"), _key("hr_benefits"),
                                     _key("support_tickets")]}

    def call(name, arguments):
        return {"id": "c1", "name": name, "arguments": json.dumps(arguments)}

    history = [
        StoredMessage("user", "q1"),
        StoredMessage("assistant", "", [call("execute_sql", {"sql": "select * from crm_customers c join "
                                                                    "billing_invoices i on i.customer_id = c.id"})]),
        StoredMessage("tool", "rows", tool_call_id="c1", tool_name="execute_sql"),
        StoredMessage("assistant", "answer"),
        StoredMessage("user", "q2"),
        StoredMessage("assistant", "", [call("describe_table", {"table": "hr_benefits"}),
                                        call("query_table", {"table": f"{SCHEMA}.support_tickets"}),
                                        call("execute_sql", {"sql": "delete from crm_customers; select 1"}),
                                        call("describe_table", {"table": "public.orders"})]),
    ]
    used = tables_used(history, policy, catalog)
    # Most recent first; the refused statement and the table outside the catalog add nothing.
    assert used == [_key("support_tickets"), _key("hr_benefits"), _key("billing_invoices"), _key("crm_customers")]


def test_table_embeddings_are_computed_once_and_kept_in_postgres(database, conn, embedder, retriever):
    catalog = read_catalog(conn, POLICY, "authenticated")
    retriever.index(catalog)
    before = embedder.texts
    # A new process: nothing in memory, every vector read from ai.table_embeddings.
    fresh = SchemaRetriever(TableEmbeddings(lambda: psycopg.connect(database.database_url), lambda: embedder))
    index = fresh.index(catalog)
    assert embedder.texts == before and index.vectors.shape == (119, 384)
    assert np.allclose(np.linalg.norm(index.vectors, axis=1), 1.0, atol=1e-3)
    stored = conn.execute("select count(*) as n from ai.table_embeddings where model = %s",
                          (embedder.model,)).fetchone()["n"]
    assert stored >= 119
    # An ALTER changes the description, so that one table (and only it) is embedded again.
    conn.execute(f"alter table {SCHEMA}.crm_leads add column fax text")
    fresh.index(read_catalog(conn, POLICY, "authenticated"))
    assert embedder.texts == before + 1
    conn.execute(f"alter table {SCHEMA}.crm_leads drop column fax")


def test_the_prompt_text_says_how_many_tables_exist(conn, retriever):
    catalog = read_catalog(conn, POLICY, "authenticated")
    selection = retriever.retrieve(catalog, "Which customers have overdue invoices?", [], RetrievalLimits(max_tables=4))
    text = describe_selection(catalog, selection, SCHEMA)
    assert text.count("\n- ") + text.startswith("- ") == 4
    assert "billing_invoices(id integer, customer_id integer -> crm_customers" in text
    assert "-- Invoices sent to customers" in text
    assert "These are 4 of the 119 tables you may use" in text and "describe_table" in text
    assert "115 other tables exist" in text   # 115 names do not fit the budget: only their number
    listed = describe_selection(catalog, selection, SCHEMA, other_names_chars=10**6)
    assert "The other tables: " in listed and "hr_benefits" in listed and "hr_salaries" not in listed


class _Pool:
    """The owner pool's `connection()` over one database URL."""

    def __init__(self, url):
        self.url = url

    def connection(self):
        return psycopg.connect(self.url, row_factory=dict_row)


def _describe(database, table, config=None, role="authenticated"):
    from app.tools.base import ToolContext, ToolServices
    from app.tools.registry import default_registry

    config = config or {"allowed_operations": ["SELECT"], "allowed_schemas": [SCHEMA], "allowed_tables": ["*"]}
    context = ToolContext(conversation_id="c", turn_id="t", message_id="m", chatbot_id="b", chatbot_config=config,
                          user_id=None, role=role, claims={}, emit=lambda event: None, cancel=None,
                          services=ToolServices(settings=database, sql=None, db=_Pool(database.database_url)))
    return default_registry().invoke("describe_table", json.dumps({"table": table}), context, {"describe_table"})


def test_describe_table_shows_an_allowed_table_and_nothing_else(database, schema):
    text = _describe(database, "billing_invoices")
    assert text.startswith("Table billing_invoices: Invoices sent to customers")
    assert "- due_on date" in text and "Foreign keys:\n- (customer_id) -> crm_customers(id)" in text
    assert _describe(database, f"{SCHEMA}.BILLING_INVOICES") == text   # folded like SQL
    # Not readable by the role, not existing, outside the allowed tables: one answer shape, no hint of existence.
    hidden = _describe(database, "hr_salaries")
    assert hidden.startswith("Error: No table 'hr_salaries' among the tables you may use; did you mean hr_")
    assert "hr_salaries" not in hidden.split(";")[1]
    assert _describe(database, "hr_salaries_x").startswith("Error: No table 'hr_salaries_x' among the tables")
    narrowed = {"allowed_operations": ["SELECT"], "allowed_schemas": [SCHEMA],
                "allowed_tables": [f"{SCHEMA}.crm_leads"]}
    assert _describe(database, "billing_invoices", narrowed).startswith("Error: No table 'billing_invoices'")
    assert "did you mean billing_invoices" in _describe(database, "billing_invoice")
    assert _describe(database, "x; drop table y").startswith("Error: `table`:")
    # Without SELECT the scope is missing: refused before the catalog is read.
    refused = _describe(database, "billing_invoices", {"allowed_operations": ["INSERT"], "allowed_schemas": [SCHEMA]})
    assert "read:tables" in refused


class BrokenEmbedder:
    name, model, dimensions = "local", "broken-model", 384

    def embed(self, texts):
        raise RuntimeError("the model could not be loaded")


def test_without_the_embedder_names_alone_rank_the_tables(database, conn):
    catalog = read_catalog(conn, POLICY, "authenticated")
    broken = SchemaRetriever(TableEmbeddings(lambda: psycopg.connect(database.database_url), BrokenEmbedder))
    selection = broken.retrieve(catalog, "Show the dunning events of overdue invoices", [], RetrievalLimits())
    assert selection.tables[0] == _key("billing_dunning_events") and len(selection.tables) == 15
