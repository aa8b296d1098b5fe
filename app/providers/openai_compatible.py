"""OpenAI-compatible chat completions (OpenAI, and any server speaking its wire format) via the `openai` client."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import openai
from openai.types.chat import ChatCompletionChunk

from app.providers.base import (
    CompletionOptions,
    ProviderAuthError,
    ProviderError,
    StreamPiece,
    TextDelta,
    ToolCall,
    Usage,
)
from app.text import storable


@dataclass(frozen=True)
class OpenAIConfig:
    api_key: str
    base_url: str
    model: str
    timeout_seconds: float = 60.0
    max_retries: int = 2
    name: str = "openai"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# PostgreSQL keeps token counts in 32-bit integers; a count outside them is the provider's error.
_MAX_TOKENS_COUNTED = 2**31 - 1


def _tokens(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN
        return 0
    return int(min(max(value, 0), _MAX_TOKENS_COUNTED))


def translate_error(exc: Exception) -> ProviderError:
    """Map the client's exceptions onto the protocol's two provider error codes."""
    if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return ProviderAuthError("the provider rejected its credentials")
    if isinstance(exc, openai.RateLimitError):
        return ProviderError("the provider is rate limiting requests", retry_after=_retry_after(exc))
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("the provider timed out")
    if isinstance(exc, openai.APIStatusError):
        return ProviderError(f"the provider answered HTTP {exc.status_code}")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError("the connection to the provider failed")
    return ProviderError(f"malformed response from the provider ({type(exc).__name__})")


class _ToolCallAssembler:
    """Tool calls arrive as fragments keyed by index; the first fragment carries id and name."""

    def __init__(self) -> None:
        self._calls: dict[int, dict] = {}

    def add(self, fragment) -> None:
        slot = self._calls.setdefault(fragment.index, {"id": None, "name": "", "arguments": ""})
        if fragment.id:
            slot["id"] = fragment.id
        function = fragment.function
        if function is not None:
            if function.name:
                slot["name"] += function.name
            if function.arguments:
                slot["arguments"] += function.arguments

    def drain(self) -> list[ToolCall]:
        # Model output is untrusted text: it is stored, so it must be text PostgreSQL accepts.
        calls = [ToolCall(id=storable(slot["id"] or f"call_{index}"), name=storable(slot["name"]),
                          arguments=storable(slot["arguments"] or "{}"))
                 for index, slot in sorted(self._calls.items())]
        self._calls.clear()
        return calls


class _OpenAIStream:
    def __init__(self, raw):
        self._raw = raw
        self._closed = False

    def __iter__(self) -> Iterator[StreamPiece]:
        calls = _ToolCallAssembler()
        answered = False
        try:
            for chunk in self._raw:
                # Usage arrives on its own chunk whose `choices` is empty (and Azure opens with one too).
                if chunk.usage is not None:
                    yield Usage(_tokens(chunk.usage.prompt_tokens), _tokens(chunk.usage.completion_tokens))
                for choice in chunk.choices or ():
                    answered = True
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            if not isinstance(delta.content, str):
                                raise TypeError("content is not text")
                            yield TextDelta(storable(delta.content))
                        for fragment in delta.tool_calls or ():
                            calls.add(fragment)
                    if choice.finish_reason:
                        yield from calls.drain()
            yield from calls.drain()
        except ProviderError:
            raise
        except openai.OpenAIError as exc:
            if self._closed:
                return
            raise translate_error(exc) from None
        except Exception as exc:  # a chunk of the wrong shape, anywhere in it: the provider's fault
            if self._closed:
                return
            raise translate_error(exc) from None
        if not answered and not self._closed:
            # A 200 whose body was no stream at all (an HTML page, a plain JSON object) parses as no chunks.
            raise ProviderError("the provider's stream ended without an answer")

    def close(self) -> None:
        self._closed = True
        self._raw.close()


class OpenAICompatibleProvider:
    type_name = "openai"

    @classmethod
    def from_config(cls, config, limits) -> OpenAICompatibleProvider:
        return cls(OpenAIConfig(api_key=config["api_key"], base_url=config["base_url"], model=config["model"],
                                timeout_seconds=limits.timeout_seconds, max_retries=limits.max_retries))

    def __init__(self, config: OpenAIConfig, client: openai.OpenAI | None = None):
        self.name = config.name
        self.model = config.model
        self._client = client or openai.OpenAI(api_key=config.api_key, base_url=config.base_url,
                                               timeout=config.timeout_seconds, max_retries=config.max_retries)

    def stream(self, messages: list[dict], tools: list[dict] | None, options: CompletionOptions) -> _OpenAIStream:
        request: dict = {"model": options.model or self.model, "messages": messages, "stream": True,
                         "stream_options": {"include_usage": True}}
        if tools:
            request["tools"] = [{"type": "function", "function": tool} for tool in tools]
        if options.max_tokens is not None:
            request["max_tokens"] = options.max_tokens
        if options.temperature is not None:
            request["temperature"] = options.temperature
        request.update(options.extra)
        try:
            # `client.post` is the client's documented way to send a body as is. The typed
            # `chat.completions.create` walks every nested JSON schema of every tool to transform
            # it: about 20 ms per call here for one tool and a 5 KB prompt, on every round, before a
            # byte is sent. Responses, streaming and errors are handled by the client either way.
            raw = self._client.post("/chat/completions", body=request, cast_to=ChatCompletionChunk, stream=True,
                                    stream_cls=openai.Stream[ChatCompletionChunk])
        except openai.OpenAIError as exc:
            raise translate_error(exc) from None
        return _OpenAIStream(raw)
