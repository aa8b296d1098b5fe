"""Provider types come from one registry; each speaks its service's wire format; the turn sees only
the Provider interface."""
import pytest

from app.providers.base import CompletionOptions, TextDelta
from app.providers.config_fields import ProviderConfigError
from app.providers.registry import (
    ClientLimits,
    UnknownProviderType,
    build_provider,
    provider_types,
    validate_config,
)
from tests.support.llm_server import ScriptedLLM

LIMITS = ClientLimits(timeout_seconds=3, max_retries=0)


def _answer(provider, llm, text="hello there"):
    llm.reply_text(text, chunks=2, usage=(7, 3))
    stream = provider.stream([{"role": "user", "content": "hi"}], None, CompletionOptions(max_tokens=50))
    pieces = list(stream)
    return "".join(p.text for p in pieces if isinstance(p, TextDelta)), pieces


def test_the_registry_lists_the_three_types():
    assert provider_types() == ("openai", "azure", "ollama")


def test_openai_sends_the_model_to_the_base_url_with_a_bearer_key(llm):
    provider = build_provider("openai", validate_config("openai", {"api_key": "test-llm-key", "base_url": llm.base_url,
                                                                   "model": "m-1", "organization_id": "org-7"}), LIMITS)
    assert (provider.name, provider.model) == ("openai", "m-1")
    text, _ = _answer(provider, llm)
    request = llm.last_request()
    assert text == "hello there"
    assert (request.path, request.body["model"], request.body["max_tokens"]) == ("/v1/chat/completions", "m-1", 50)
    assert request.headers["authorization"] == "Bearer test-llm-key"
    assert request.headers["openai-organization"] == "org-7"


def test_azure_uses_the_deployment_path_the_api_version_and_the_api_key_header(llm):
    config = validate_config("azure", {"api_key": "test-llm-key", "endpoint": llm.azure_endpoint + "/",
                                       "deployment_name": "chat-prod"})
    assert config["api_version"] == "2024-02-15-preview"
    provider = build_provider("azure", config, LIMITS, name="azure-eu")
    assert (provider.name, provider.model) == ("azure-eu", "chat-prod")
    text, _ = _answer(provider, llm)
    request = llm.last_request()
    assert text == "hello there"
    assert request.path == "/openai/deployments/chat-prod/chat/completions"
    assert (request.azure, request.deployment, request.api_version) == (True, "chat-prod", "2024-02-15-preview")
    assert request.headers["api-key"] == "test-llm-key" and "authorization" not in request.headers


def test_ollama_goes_through_its_openai_compatible_endpoint_with_its_model():
    with ScriptedLLM() as ollama:  # Ollama takes no key
        config = validate_config("ollama", {"endpoint": ollama.azure_endpoint, "model": "llama3.2:3b"})
        provider = build_provider("ollama", config, LIMITS)
        text, _ = _answer(provider, ollama)
        request = ollama.last_request()
        assert text == "hello there"
        assert (request.path, request.body["model"]) == ("/v1/chat/completions", "llama3.2:3b")
        ollama.assert_complete()


def test_embeddings_go_through_each_type(llm):
    openai_provider = build_provider("openai", {"api_key": "test-llm-key", "base_url": llm.base_url, "model": "m"},
                                     LIMITS)
    vectors = openai_provider.embed(["one", "two"], "text-embedding-3-small")
    assert len(vectors) == 2 and len(vectors[0]) == llm.embedding_dimensions and vectors[0] != vectors[1]
    assert llm.last_request().path == "/v1/embeddings"
    azure = build_provider("azure", validate_config("azure", {"api_key": "test-llm-key", "endpoint": llm.azure_endpoint,
                                                              "deployment_name": "chat"}), LIMITS)
    assert len(azure.embed(["one"], "embed-deployment")) == 1
    assert llm.last_request().path == "/openai/deployments/embed-deployment/embeddings"


@pytest.mark.parametrize("type_name, config, field", [
    ("openai", {}, "config.api_key"),
    ("openai", {"api_key": "k", "base_url": "ftp://example.com"}, "config.base_url"),
    ("openai", {"api_key": "k", "base_url": "http://user:secret@example.com/v1"}, "config.base_url"),
    ("openai", {"api_key": "k", "temperature": "1"}, "config.temperature"),
    ("openai", {"api_key": "has space"}, "config.api_key"),
    ("openai", {"api_key": ["k"]}, "config.api_key"),
    ("azure", {"api_key": "k", "endpoint": "https://x.openai.azure.com"}, "config.deployment_name"),
    ("azure", {"api_key": "k", "endpoint": "https://x", "deployment_name": "d", "api_version": "latest"},
     "config.api_version"),
    ("azure", {"endpoint": "https://x", "deployment_name": "d"}, "config.api_key"),
    ("ollama", {"endpoint": "http://localhost:11434"}, "config.model"),
    ("ollama", {"model": "llama3", "endpoint": "localhost:11434"}, "config.endpoint"),
    ("gemini", {}, "provider_type"),
])
def test_a_bad_config_names_the_field_and_never_repeats_the_value(type_name, config, field):
    with pytest.raises(ProviderConfigError) as caught:
        validate_config(type_name, config)
    assert caught.value.field == field
    assert "secret" not in str(caught.value) and "has space" not in str(caught.value)


def test_values_arrive_as_strings_numbers_or_booleans_and_are_kept_as_strings():
    config = validate_config("ollama", {"model": "qwen2.5:7b", "endpoint": "http://10.0.0.5:11434/"})
    assert config == {"endpoint": "http://10.0.0.5:11434", "model": "qwen2.5:7b"}
    # A self-hosted OpenAI-compatible server may take no key.
    assert "api_key" not in validate_config("openai", {"base_url": "http://127.0.0.1:8000/v1"})


def test_an_unknown_type_is_refused_with_the_known_ones():
    with pytest.raises(UnknownProviderType, match="known: azure, ollama, openai"):
        build_provider("gemini", {}, ClientLimits(3, 0))


@pytest.mark.parametrize("url", ["http://\ud800.example", "http://exämple.com", "http://a b", "http://[::1",
                                 "http://h:99999", "https://h/v1?x=1", "https://h/#f"])
def test_urls_that_are_not_plain_ascii_http_urls_are_refused(url):
    with pytest.raises(ProviderConfigError) as caught:
        validate_config("ollama", {"model": "m", "endpoint": url})
    assert caught.value.field == "config.endpoint"


def test_an_unknown_field_is_named_only_when_it_looks_like_a_field_name():
    with pytest.raises(ProviderConfigError) as caught:
        validate_config("ollama", {"model": "m", "sk-CANARY-0123456789abcdef": "x"})
    assert caught.value.field == "config" and "CANARY" not in str(caught.value)
    with pytest.raises(ProviderConfigError) as caught:
        validate_config("ollama", {"model": "m", "temperature": "1"})
    assert caught.value.field == "config.temperature" and "temperature" in caught.value.message


@pytest.mark.parametrize("value", [True, False, float("nan"), float("inf")])
def test_flags_and_non_finite_numbers_are_not_values(value):
    with pytest.raises(ProviderConfigError) as caught:
        validate_config("ollama", {"model": value})
    assert caught.value.field == "config.model"
