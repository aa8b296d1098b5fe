"""Which provider answers a turn, and which serves embeddings, read from the database each time."""
from dataclasses import replace

import pytest

from app.providers import admin
from app.providers.base import NoProviderConfigured
from app.providers.registry import ClientLimits
from app.providers.selection import (
    NO_PROVIDER_HINT,
    ProviderClients,
    choose_for_embeddings,
    choose_for_turn,
)
from tests.app.providers.conftest import add


def test_named_then_default_then_environment_then_none(settings, conn, box):
    assert choose_for_turn(conn, settings, box, None).row.id == admin.ENV_PROVIDER_ID
    add(conn, box, "first")
    named = add(conn, box, "named")
    assert choose_for_turn(conn, settings, box, None).row.name == "first"
    assert choose_for_turn(conn, settings, box, "named").row.name == "named"
    assert choose_for_turn(conn, settings, box, "config").row.id == admin.ENV_PROVIDER_ID
    assert choose_for_turn(conn, settings, box, "unknown").row.name == "first"
    admin.change(conn, box, named.id, admin.ProviderChanges(enabled=False))
    assert choose_for_turn(conn, settings, box, "named").row.name == "first"
    admin.change(conn, box, "first", admin.ProviderChanges(enabled=False))
    assert choose_for_turn(conn, settings, box, "named").row.id == admin.ENV_PROVIDER_ID
    with pytest.raises(NoProviderConfigured, match="OPENAI_API_KEY") as caught:
        choose_for_turn(conn, replace(settings, openai_api_key=None), box, None)
    assert str(caught.value) == NO_PROVIDER_HINT and NO_PROVIDER_HINT.startswith("No AI provider configured")


def test_embeddings_come_from_the_marked_provider_else_the_default(settings, conn, box):
    add(conn, box, "chat")
    marked = add(conn, box, "vectors", embedding_model="mxbai-embed-large")
    choice, model = choose_for_embeddings(conn, settings, box)
    assert (choice.row.name, model) == ("chat", "nomic-embed-text")
    admin.use_for_embeddings(conn, marked.id, True)
    choice, model = choose_for_embeddings(conn, settings, box)
    assert (choice.row.name, model) == ("vectors", "mxbai-embed-large")


def test_a_client_is_built_once_per_provider_version(settings, conn, box):
    clients = ProviderClients(ClientLimits(3, 0))
    add(conn, box, "only")
    first = clients.get(choose_for_turn(conn, settings, box, None))
    assert clients.get(choose_for_turn(conn, settings, box, None)) is first
    admin.change(conn, box, "only", admin.ProviderChanges(config={"model": "other"}))
    second = clients.get(choose_for_turn(conn, settings, box, None))
    assert second is not first and second.model == "other"
