"""Azure OpenAI: the OpenAI wire format at `{endpoint}/openai/deployments/{deployment}/...?api-version=`,
authenticated with an `api-key` header, as the `openai` package's Azure client sends it."""
from __future__ import annotations

import openai

from app.providers.config_fields import ConfigField
from app.providers.openai_compatible import OpenAICompatibleProvider, OpenAIConfig

DEFAULT_API_VERSION = "2024-02-15-preview"


class AzureOpenAIProvider(OpenAICompatibleProvider):
    type_name = "azure"
    config_fields = (
        ConfigField("api_key", "secret", required=True),
        ConfigField("endpoint", "url", required=True),
        ConfigField("deployment_name", "deployment", required=True),
        ConfigField("api_version", "api_version", default=DEFAULT_API_VERSION),
    )

    @classmethod
    def from_config(cls, config, limits, *, name: str = "azure") -> AzureOpenAIProvider:
        # No `azure_deployment` on the client: it then puts the request's `model` into the path
        # (`/deployments/{model}/...`), so the chat deployment, a chatbot's @fluxbase:model (which on
        # Azure names a deployment) and an embedding deployment all go through one client.
        client = openai.AzureOpenAI(api_key=config["api_key"], azure_endpoint=config["endpoint"],
                                    api_version=config["api_version"], timeout=limits.timeout_seconds,
                                    max_retries=limits.max_retries)
        return cls(OpenAIConfig(api_key=config["api_key"], base_url=config["endpoint"],
                                model=config["deployment_name"], name=name, retry_seconds=limits.retry_seconds),
                   client=client)
