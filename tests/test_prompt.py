"""Prompt building: templates, language instruction, schema description."""
from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row

from app.chat.schema import describe_tables
from app.chat.templates import NOT_SET, SettingsView, SettingValue, render
from app.sql.guard import AccessPolicy
from workers.prompt import PromptParts, build_messages, system_message

VIEW = SettingsView(
    user={"theme.mode": SettingValue("dark", False), "google.maps.api_key": SettingValue(None, True)},
    system={"theme.mode": SettingValue("light", False), "pelias.endpoint": SettingValue("https://p.example", False)},
)


def test_templates_resolve_scopes_and_never_reveal_secrets():
    text = render("{{user_id}} {{namespace}} {{theme.mode}} {{system:theme.mode}} {{user:pelias.endpoint}} "
                  "{{pelias.endpoint}} {{user:google.maps.api_key}} {{ missing.key }}",
                  user_id="u-1", namespace="default", settings=VIEW)
    assert text == (f"u-1 default dark light {NOT_SET} https://p.example [secret:google.maps.api_key] {NOT_SET}")


def test_anonymous_user_id_and_untouched_text():
    assert render("Hi {{user_id}} {not a template}", user_id=None, namespace="n", settings=SettingsView({}, {})) \
        == "Hi anonymous {not a template}"


def test_system_message_parts():
    parts = PromptParts("Be helpful.", "- orders(id integer)", "German", ("execute_sql",))
    text = system_message(parts, now=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert text.startswith("Be helpful.")
    assert "Current date (UTC): 2026-03-01" in text
    assert "Always answer in German" in text and "- orders(id integer)" in text
    no_sql = system_message(PromptParts("Be helpful.", "- orders(id integer)", "auto", ()))
    assert "orders" not in no_sql and "Answer in the language of the user's latest message." in no_sql


def test_build_messages_orders_system_history_user():
    history = [{"role": "user", "content": "a", "tool_calls": None}, {"role": "assistant", "content": "b",
                                                                       "tool_calls": None}]
    messages = build_messages(PromptParts("S", None, "auto", ()), history, "c")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "c"


def test_schema_description_lists_only_allowed_tables(database):
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        text = describe_tables(conn, AccessPolicy.from_config(["orders", "products"], ["public"], ["SELECT"]))
    assert "- orders(id integer, user_id uuid" in text and "- products(" in text
    assert "customers" not in text and "locations" not in text
    with psycopg.connect(database.database_url, row_factory=dict_row) as conn:
        anon = describe_tables(conn, AccessPolicy.from_config(["orders", "products"], ["public"], ["SELECT"]), "anon")
    assert "products(" in anon and "orders(" not in anon  # anon may not read orders
