"""First run: a local Ollama that answers becomes the default provider; otherwise one line says how
to add one. Nothing is changed when a provider is configured."""
from dataclasses import replace

import pytest

from app.providers import repository as repo
from app.providers.first_run import ADD_A_PROVIDER, ensure_provider, ollama_endpoint
from tests.support.llm_server import ScriptedLLM
from tests.support.processes import free_port


@pytest.fixture
def conn(database, owner_conn):
    import psycopg
    owner_conn.execute("delete from ai.providers")
    with psycopg.connect(database.database_url) as connection:
        yield connection
    owner_conn.execute("delete from ai.providers")


@pytest.mark.parametrize("host, endpoint", [
    (None, "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("gpu-box:8080", "http://gpu-box:8080"),
    ("https://ollama.internal", "https://ollama.internal:11434"),
])
def test_ollama_host_takes_ollamas_own_forms(host, endpoint):
    assert ollama_endpoint(host) == endpoint


def test_a_local_ollama_becomes_the_default_with_a_chat_model_it_has(settings, conn):
    with ScriptedLLM(dialect="ollama", ollama_models=("nomic-embed-text:latest", "qwen2.5:7b", "llama3.2:latest")) \
            as ollama:
        line = ensure_provider(conn, replace(settings, openai_api_key=None, ollama_host=ollama.azure_endpoint))
        row = repo.get_by_name(conn, "ollama")
        assert row is not None and row.is_default and row.provider_type == "ollama"
        assert row.config == {"endpoint": ollama.azure_endpoint, "model": "qwen2.5:7b"}
        assert row.embedding_model == "nomic-embed-text:latest"
        assert "qwen2.5:7b" in line and ollama.azure_endpoint in line
        assert [r.path for r in ollama.requests] == ["/api/tags"]
        # Run again: the provider exists, nothing is asked or added.
        again = ensure_provider(conn, replace(settings, openai_api_key=None, ollama_host=ollama.azure_endpoint))
        assert again.startswith("providers: 1 configured") and len(ollama.requests) == 1


def test_without_ollama_one_line_says_how_to_add_a_provider(settings, conn):
    line = ensure_provider(conn, replace(settings, openai_api_key=None, ollama_host=f"127.0.0.1:{free_port()}"))
    assert line == ADD_A_PROVIDER and "OPENAI_API_KEY" in line and "fluxbase providers add" in line
    assert repo.list_all(conn) == []


def test_an_ollama_with_only_embedding_models_is_not_registered(settings, conn):
    with ScriptedLLM(dialect="ollama", ollama_models=("nomic-embed-text:latest",)) as ollama:
        line = ensure_provider(conn, replace(settings, openai_api_key=None, ollama_host=ollama.azure_endpoint))
    assert "no chat model" in line and repo.list_all(conn) == []


def test_a_configured_environment_provider_is_left_alone(settings, conn):
    assert ensure_provider(conn, settings).startswith("provider: from the environment")
    assert repo.list_all(conn) == []
