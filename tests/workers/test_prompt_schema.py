"""The schema section for chatbots whose table tools are the MCP ones (query_table, ...), not execute_sql."""
from datetime import datetime, timezone

from workers.prompt import PromptInput, system_message

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
SCHEMA = "- orders(id integer)"


def test_table_tools_are_told_the_schema_and_named():
    text = system_message(PromptInput("S", "auto", NOW, ("query_table", "insert_record", "http_get"), SCHEMA))
    assert "Tables you may use with query_table, insert_record (name(column type, ...)):\n- orders(id integer)" in text


def test_execute_sql_keeps_its_wording_and_other_tools_get_no_schema():
    text = system_message(PromptInput("S", "auto", NOW, ("query_table", "execute_sql"), SCHEMA))
    assert "Tables you may query with execute_sql (name(column type, ...)):\n- orders(id integer)" in text
    assert "orders" not in system_message(PromptInput("S", "auto", NOW, ("http_get", "search_vectors"), SCHEMA))
