"""A conversation's provider pin wins over the chatbot's choice and the default, and a pin that no
longer resolves is an error, never a fallback (app/providers/pinning.py)."""
from dataclasses import replace

import pytest

from app.protocol import Code
from app.providers import admin
from app.providers.pinning import (
    PinnedProviderUnavailable,
    ProviderDisabled,
    pin_target,
)
from app.providers.selection import choose_for_turn
from tests.app.providers.conftest import add


def test_the_pin_wins_over_the_chatbot_and_the_default(settings, conn, box):
    add(conn, box, "default-one")
    add(conn, box, "named")
    pinned = add(conn, box, "pinned")
    assert choose_for_turn(conn, settings, box, "named", pinned="pinned").row.name == "pinned"
    assert choose_for_turn(conn, settings, box, None, pinned="pinned").config["model"] == "pinned-model"
    assert choose_for_turn(conn, settings, box, "named", pinned="config").row.id == admin.ENV_PROVIDER_ID
    assert choose_for_turn(conn, settings, box, "named", pinned=None).row.name == "named"
    assert pin_target(conn, settings, pinned.id) == "pinned"
    assert pin_target(conn, settings, admin.ENV_PROVIDER_ID) == "config"


def test_a_pin_gone_disabled_or_unconfigured_is_provider_not_found(settings, conn, box):
    add(conn, box, "default-one")
    pinned = add(conn, box, "pinned")
    admin.change(conn, box, pinned.id, admin.ProviderChanges(enabled=False))
    with pytest.raises(ProviderDisabled):
        pin_target(conn, settings, "pinned")
    with pytest.raises(PinnedProviderUnavailable, match="'pinned', which is disabled") as caught:
        choose_for_turn(conn, settings, box, None, pinned="pinned")
    assert caught.value.code is Code.PROVIDER_NOT_FOUND
    admin.remove(conn, pinned.id)
    with pytest.raises(PinnedProviderUnavailable, match="'pinned', which no longer exists"):
        choose_for_turn(conn, settings, box, None, pinned="pinned")
    with pytest.raises(admin.ProviderNotFound):
        pin_target(conn, settings, "pinned")
    without_env = replace(settings, openai_api_key=None)
    with pytest.raises(PinnedProviderUnavailable, match="OPENAI_API_KEY"):
        choose_for_turn(conn, without_env, box, None, pinned="config")
    with pytest.raises(admin.ProviderNotFound):
        pin_target(conn, without_env, "config")
