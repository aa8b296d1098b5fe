"""The Python SDK against the live test server (tests/conftest.py: web, worker, scripted LLM)."""
from __future__ import annotations

import pytest
from fluxbase_sdk import create_client

from tests.conftest import ALICE, TEST_SERVICE_KEY, token_for


@pytest.fixture(scope="session")
def anon_key():
    return token_for(None, "anon")


@pytest.fixture
def client(web, test_chatbots, anon_key):
    return create_client(web, anon_key)


@pytest.fixture
def admin(web, test_chatbots):
    return create_client(web, TEST_SERVICE_KEY).admin.ai


@pytest.fixture
def open_chat(client):
    """create_chat + connect, disconnected after the test (before the scripted LLM is checked)."""
    chats = []

    def make(user: str | None = ALICE, *, connect: bool = True, **options):
        options.setdefault("reconnect_delay", 0.05)
        options.setdefault("request_timeout", 15)
        chat = client.ai.create_chat(token=token_for(user) if user else None, **options)
        chats.append(chat)
        if connect:
            chat.connect()
        return chat

    yield make
    for chat in chats:
        chat.disconnect()
