"""What a worker process builds once and every turn shares: bus, executor, tools, schema cache, providers."""
from __future__ import annotations

from functools import cached_property

from app.chat.schema import SchemaCache
from app.providers.base import NoProviderConfigured, Provider
from app.providers.openai_compatible import OpenAICompatibleProvider, OpenAIConfig
from app.runtime import Runtime
from app.sql.executor import SqlExecutor
from app.streaming.bus import StreamBus
from app.tools.registry import ToolRegistry
from app.tools.sql_tool import make_execute_sql


class WorkerServices:
    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.settings = runtime.settings
        self._providers: dict[tuple, Provider] = {}

    @property
    def bus(self) -> StreamBus:
        return self.runtime.bus

    @cached_property
    def executor(self) -> SqlExecutor:
        return SqlExecutor(self.runtime.user_db, statement_timeout_ms=self.settings.sql_statement_timeout_ms,
                           max_rows=self.settings.sql_max_rows, max_bytes=self.settings.sql_max_bytes)

    @cached_property
    def registry(self) -> ToolRegistry:
        registry = ToolRegistry()
        registry.register(make_execute_sql(self.executor, self.runtime.db, sample_rows=self.settings.model_sample_rows))
        return registry

    @cached_property
    def schema_cache(self) -> SchemaCache:
        return SchemaCache(self.settings.schema_cache_seconds)

    def provider_for(self, provider_name: str | None) -> Provider:
        """The environment's OpenAI-compatible provider; named providers arrive with the providers API."""
        settings = self.settings
        if not settings.openai_api_key or provider_name not in (None, "openai", "default"):
            raise NoProviderConfigured("No AI provider configured")
        key = ("openai", settings.openai_base_url, settings.openai_model)
        provider = self._providers.get(key)
        if provider is None:
            provider = OpenAICompatibleProvider(OpenAIConfig(
                api_key=settings.openai_api_key, base_url=settings.openai_base_url, model=settings.openai_model,
                timeout_seconds=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries))
            self._providers[key] = provider
        return provider
