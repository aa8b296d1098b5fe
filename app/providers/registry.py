"""Provider types, registered in one place: adding a type means writing one class and listing it here.

A provider class has a `type_name` (the `provider_type` of the admin API), a `validate_config`
that checks a config (raising ProviderConfigError naming the field) and a `from_config` that builds
it from a validated one; the chat turn only ever sees the `Provider` interface (app/providers/base.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from app.providers.azure import AzureOpenAIProvider
from app.providers.base import Provider
from app.providers.config_fields import ProviderConfigError
from app.providers.ollama import OllamaProvider
from app.providers.openai_compatible import OpenAICompatibleProvider


@dataclass(frozen=True)
class ClientLimits:
    """How long and how often a provider's client may try, from the server's settings."""

    timeout_seconds: float
    max_retries: int
    retry_seconds: float = 20.0  # LLM_RETRY_SECONDS: the time all retries of one request may take


class ProviderClass(Protocol):
    type_name: str

    @classmethod
    def validate_config(cls, raw: Any) -> dict[str, str]: ...

    @classmethod
    def from_config(cls, config: Mapping[str, Any], limits: ClientLimits, *, name: str = ...) -> Provider: ...


PROVIDER_CLASSES: tuple[ProviderClass, ...] = (OpenAICompatibleProvider, AzureOpenAIProvider, OllamaProvider)

_BY_TYPE = {cls.type_name: cls for cls in PROVIDER_CLASSES}


class UnknownProviderType(ValueError):
    def __init__(self, type_name: str):
        super().__init__(f"unknown provider type {type_name!r} (known: {', '.join(sorted(_BY_TYPE))})")


def provider_types() -> tuple[str, ...]:
    return tuple(_BY_TYPE)


def provider_class(type_name: str) -> ProviderClass:
    cls = _BY_TYPE.get(type_name)
    if cls is None:
        raise UnknownProviderType(type_name)
    return cls


def validate_config(type_name: str, raw: Any) -> dict[str, str]:
    """The config a type will be built from; ProviderConfigError (naming the field) otherwise."""
    try:
        cls = provider_class(type_name)
    except UnknownProviderType as exc:
        raise ProviderConfigError("provider_type", str(exc)) from None
    return cls.validate_config(raw)


def build_provider(type_name: str, config: Mapping[str, Any], limits: ClientLimits, *,
                   name: str | None = None) -> Provider:
    cls = provider_class(type_name)
    return cls.from_config(config, limits, name=name or type_name)
