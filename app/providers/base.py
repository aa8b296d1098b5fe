"""The provider seam: what the tool loop sees of any LLM service."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, Union

from app.protocol import Code


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model wrote it; parsed (and validated) by the tool


_MAX_COUNTED = 2**31 - 1


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Counted here (app/providers/token_count.py) because the provider reported nothing; a sum with
    # any estimated part is an estimate.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.estimated or other.estimated)

    def bounded(self) -> Usage:
        """Within what PostgreSQL counts (32-bit): a sum over rounds of a provider's huge counts can exceed it."""
        return Usage(min(self.prompt_tokens, _MAX_COUNTED), min(self.completion_tokens, _MAX_COUNTED),
                     self.estimated)

    def as_dict(self) -> dict:
        counts: dict = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                        "total_tokens": self.total_tokens}
        if self.estimated:  # only then: a client reading the provider's own counts sees no new field
            counts["estimated"] = True
        return counts


StreamPiece = Union[TextDelta, ToolCall, Usage]


@dataclass(frozen=True)
class CompletionOptions:
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    extra: dict = field(default_factory=dict)


class ProviderError(Exception):
    """The provider failed: timeout, 5xx, malformed stream, refused request (PROVIDER_ERROR)."""

    code = Code.PROVIDER_ERROR

    def __init__(self, detail: str, *, retry_after: float | None = None):
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """The provider answered 401/403 (PROVIDER_AUTH_FAILED)."""

    code = Code.PROVIDER_AUTH_FAILED


class NoProviderConfigured(Exception):
    """No enabled default provider, and none named by the chatbot (NO_PROVIDER)."""

    code = Code.NO_PROVIDER


class ProviderStream(Protocol):
    def __iter__(self) -> Iterator[StreamPiece]: ...

    def close(self) -> None:
        """Stop reading and close the connection, so the service stops generating."""


class Provider(Protocol):
    name: str
    model: str

    def stream(self, messages: list[dict], tools: list[dict] | None, options: CompletionOptions) -> ProviderStream: ...
