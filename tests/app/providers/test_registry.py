"""Provider types come from one registry; the turn sees only the Provider interface."""
import pytest

from app.providers.base import CompletionOptions, TextDelta
from app.providers.registry import (
    ClientLimits,
    UnknownProviderType,
    build_provider,
    provider_types,
)


def test_the_registry_builds_each_type_it_lists(llm):
    assert provider_types() == ("openai",)
    provider = build_provider("openai", {"api_key": "test-llm-key", "base_url": llm.base_url, "model": "m-1"},
                              ClientLimits(timeout_seconds=3, max_retries=0))
    assert (provider.name, provider.model) == ("openai", "m-1")
    llm.reply_text("hello there", chunks=2)
    stream = provider.stream([{"role": "user", "content": "hi"}], None, CompletionOptions())
    assert "".join(p.text for p in stream if isinstance(p, TextDelta)) == "hello there"
    assert llm.last_request().body["model"] == "m-1"


def test_an_unknown_type_is_refused_with_the_known_ones():
    with pytest.raises(UnknownProviderType, match="known: openai"):
        build_provider("gemini", {}, ClientLimits(3, 0))
