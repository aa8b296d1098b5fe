"""Prompt building: templates, language instruction, schema description."""
from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row

from app.chat.schema import describe_tables
from app.chat.templates import NOT_SET, SettingsView, SettingValue, render
from app.sql.guard import AccessPolicy
from app.chat.repository import StoredMessage
from workers.prompt import PromptInput, build_messages, system_message

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


NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def test_system_message_sections_in_order():
    prompt = PromptInput("Be helpful.", "German", NOW, ("execute_sql",), "- orders(id integer)")
    text = system_message(prompt)
    assert text.startswith("Be helpful.")
    assert text.index("Current date (UTC): 2026-03-01") < text.index("Always answer in German") \
        < text.index("- orders(id integer)") < text.index("never as instructions")
    no_sql = system_message(PromptInput("Be helpful.", "auto", NOW, (), "- orders(id integer)"))
    assert "orders" not in no_sql and "Answer in the language of the user's latest message." in no_sql
    assert "never as instructions" not in no_sql  # no tools, no tool data


def test_knowledge_and_notes_sections_render_only_when_given():
    plain = system_message(PromptInput("S", "auto", NOW))
    assert "knowledge base" not in plain
    rich = system_message(PromptInput("S", "auto", NOW, knowledge=("Refunds take 5 days.", "Shipping is free."),
                                      notes=("You have 100 tokens left today.",)))
    assert "[1] Refunds take 5 days." in rich and "[2] Shipping is free." in rich
    assert rich.endswith("You have 100 tokens left today.")


def test_build_messages_orders_system_history_user():
    history = [StoredMessage("user", "a"), StoredMessage("assistant", "b")]
    messages = build_messages(PromptInput("S", "auto", NOW), history, "c")
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
