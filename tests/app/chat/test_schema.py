"""The schema description the model reads: only the tables the chatbot and the role may read."""
import psycopg
from psycopg.rows import dict_row

from app.chat.schema import describe_tables
from app.sql.guard import AccessPolicy


def test_schema_description_lists_only_allowed_tables(database):
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        text = describe_tables(conn, AccessPolicy.from_config(["orders", "products"], ["public"], ["SELECT"]))
    assert "- orders(id integer, user_id uuid" in text and "- products(" in text
    assert "customers" not in text and "locations" not in text
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        anon = describe_tables(conn, AccessPolicy.from_config(["orders", "products"], ["public"], ["SELECT"]), "anon")
    assert "products(" in anon and "orders(" not in anon  # anon may not read orders


def test_names_that_are_not_plain_are_shown_quoted_so_a_name_cannot_read_as_more_text():
    from app.chat.schema import format_tables

    policy = AccessPolicy.from_config(["*"], ["public"], ["SELECT"])
    text = format_tables({("public", 'weird "name"; x'): [("col; drop", "text"), ("id", "integer")],
                          ("Sales", "Orders"): [("total", "numeric")]}, policy)
    assert text.splitlines() == ['- "weird ""name""; x"("col; drop" text, id integer)',
                                 '- "Sales"."Orders"(total numeric)']
