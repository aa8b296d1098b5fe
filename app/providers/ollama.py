"""Ollama through its OpenAI-compatible API (`{endpoint}/v1`); it reports its own token counts
(prompt_eval_count, eval_count) as the usage chunk's prompt_tokens and completion_tokens."""
from __future__ import annotations

from app.providers.config_fields import ConfigField
from app.providers.openai_compatible import OpenAICompatibleProvider, OpenAIConfig

DEFAULT_ENDPOINT = "http://localhost:11434"
# Ollama takes no key; the client insists on one.
_KEY = "ollama"


class OllamaProvider(OpenAICompatibleProvider):
    type_name = "ollama"
    config_fields = (
        ConfigField("endpoint", "url", default=DEFAULT_ENDPOINT),
        ConfigField("model", "model", required=True),
    )

    @classmethod
    def from_config(cls, config, limits, *, name: str = "ollama") -> OllamaProvider:
        endpoint = config["endpoint"]
        base_url = endpoint if endpoint.endswith("/v1") else f"{endpoint}/v1"
        return cls(OpenAIConfig(api_key=_KEY, base_url=base_url, model=config["model"], name=name,
                                timeout_seconds=limits.timeout_seconds, max_retries=limits.max_retries,
                                retry_seconds=limits.retry_seconds))
