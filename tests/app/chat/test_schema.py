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
