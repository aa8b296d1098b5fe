"""OpenAI-compatible chat completions (OpenAI, and any server speaking its wire format) via the `openai` client."""
from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

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
from app.providers.config_fields import (
    ConfigField,
    ProviderConfigError,
    validate_fields,
)
from app.providers.retry import RetryPolicy, call_with_retries, retry_after_seconds
from app.providers.token_count import estimate_usage
from app.text import storable

log = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
# The client refuses to start without a key; servers that take none ignore this one.
_NO_KEY = "not-needed"


@dataclass(frozen=True)
class OpenAIConfig:
    api_key: str
    base_url: str
    model: str
    timeout_seconds: float = 60.0
    max_retries: int = 2
    name: str = "openai"
    organization: str | None = None
    retry_seconds: float = 20.0  # LLM_RETRY_SECONDS: all retries of one request, waits included


def _retry_after(exc: openai.APIStatusError) -> float | None:
    return retry_after_seconds(exc.response.headers) if exc.response is not None else None


def _worth_retrying(exc: Exception) -> bool:
    """429, 5xx and failures to connect or to get an answer: another try may succeed. Never 401/403."""
    if isinstance(exc, openai.APIStatusError):
        # OpenAI's own header, which its client obeys: the server knows a retry cannot help.
        if exc.response is not None and exc.response.headers.get("x-should-retry") == "false":
            return False
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)  # APITimeoutError included


def _asked_wait(exc: Exception) -> float | None:
    return _retry_after(exc) if isinstance(exc, openai.APIStatusError) else None


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
        return ProviderError(f"the provider answered HTTP {exc.status_code}", retry_after=_retry_after(exc))
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
    """One model call. The request goes out when reading begins, so that a cancel (`close`) also ends
    a wait between retries; what fails before the answer began is retried (`open_raw`), nothing after."""

    def __init__(self, open_raw: Callable[[threading.Event], object], request: dict):
        self._open_raw = open_raw
        self._request = request
        self._raw = None
        self._stop = threading.Event()
        self._ready = threading.Event()   # the request answered, failed, or the stream was closed
        self._closed = False

    def _open(self):
        """The response, sent from a thread of its own (a greenlet under gevent): a provider that
        accepted the connection and has not begun to answer holds that thread, not the turn, so a
        cancel ends the turn at once instead of after LLM_TIMEOUT_SECONDS."""
        outcome: dict = {}

        def send() -> None:
            try:
                outcome["raw"] = self._open_raw(self._stop)
            except BaseException as exc:  # handed to the reader, which translates it
                outcome["error"] = exc
            finally:
                self._ready.set()
                if self._closed and "raw" in outcome:
                    outcome["raw"].close()  # nobody will read it: let the provider stop generating

        # In a copy of the turn's context: what the HTTP client logs there is scrubbed of the turn's secrets
        # and carries its ids (app/log_context.py), like the turn's own lines.
        threading.Thread(target=contextvars.copy_context().run, args=(send,), name="provider-request",
                         daemon=True).start()
        self._ready.wait()
        if "error" in outcome:
            raise outcome["error"]
        return outcome.get("raw")

    def __iter__(self) -> Iterator[StreamPiece]:
        calls = _ToolCallAssembler()
        answered = False
        reported: Usage | None = None
        written: list[str] = []
        made: list[ToolCall] = []
        try:
            self._raw = self._open()
            if self._closed:  # closed while the request was on its way
                if self._raw is not None:
                    self._raw.close()
                return
            for chunk in self._raw:
                # Usage arrives on its own chunk whose `choices` is empty (and Azure opens with one too).
                # The last one counts: a server that reports running totals must not be summed.
                if chunk.usage is not None:
                    reported = Usage(_tokens(chunk.usage.prompt_tokens), _tokens(chunk.usage.completion_tokens))
                for choice in chunk.choices or ():
                    answered = True
                    delta = choice.delta
                    if delta is not None:
                        if delta.content:
                            if not isinstance(delta.content, str):
                                raise TypeError("content is not text")
                            text = storable(delta.content)
                            written.append(text)
                            yield TextDelta(text)
                        for fragment in delta.tool_calls or ():
                            calls.add(fragment)
                    if choice.finish_reason:
                        yield from self._drain(calls, made)
            yield from self._drain(calls, made)
        except ProviderError:
            raise
        except Exception as exc:  # the client's errors, or a chunk of the wrong shape anywhere: the provider's fault
            if self._closed:
                return
            error = translate_error(exc)
            if answered:
                # The provider read the prompt and wrote part of an answer: that was spent, so it is counted.
                yield self._usage(reported, written, made)
            raise error from None
        if self._closed:
            return
        if not answered:
            # A 200 whose body was no stream at all (an HTML page, a plain JSON object) parses as no chunks.
            raise ProviderError("the provider's stream ended without an answer")
        yield self._usage(reported, written, made)

    @staticmethod
    def _drain(calls: _ToolCallAssembler, made: list[ToolCall]) -> Iterator[ToolCall]:
        for call in calls.drain():
            made.append(call)
            yield call

    def _usage(self, reported: Usage | None, written: list[str], made: list[ToolCall]) -> Usage:
        """What the provider reported; counted here, and marked estimated, when it reported nothing."""
        if reported is not None:
            return reported
        request = self._request
        return estimate_usage(str(request.get("model") or ""), request.get("messages") or [], request.get("tools"),
                              "".join(written), made)

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        self._ready.set()
        if self._raw is not None:
            self._raw.close()


# Reasoning models (OpenAI's o-series, gpt-5) refuse `max_tokens` ("use max_completion_tokens") and
# any temperature but the default, with a 400 naming the parameter. Asked again in the form they take,
# a chatbot's max-tokens still bounds the answer; its temperature is what they cannot honour.
_ADAPTABLE = ("max_tokens", "temperature")


def _adapt(request: dict, exc: openai.BadRequestError) -> bool:
    param = getattr(exc, "param", None)
    if param == "max_tokens" and "max_tokens" in request:
        request["max_completion_tokens"] = request.pop("max_tokens")
    elif param == "temperature" and "temperature" in request:
        del request["temperature"]
    else:
        return False
    log.info("model %s refused %s; asking again without it", request.get("model"), param)
    return True


class OpenAICompatibleProvider:
    """OpenAI itself, or any server speaking its wire format (vLLM, llama.cpp's server, LiteLLM)."""

    type_name = "openai"
    config_fields = (
        ConfigField("api_key", "secret"),
        ConfigField("model", "model", default=DEFAULT_OPENAI_MODEL),
        ConfigField("base_url", "url", default=OPENAI_BASE_URL),
        ConfigField("organization_id", "identifier"),
    )

    @classmethod
    def validate_config(cls, raw) -> dict[str, str]:
        config = validate_fields(cls.config_fields, raw)
        # A self-hosted server often takes no key; OpenAI's own API always does. (Types whose config
        # has no base_url, Azure and Ollama, require or need no key by their fields alone.)
        base_url = config.get("base_url")
        if "api_key" not in config and base_url and urlsplit(base_url).hostname == urlsplit(OPENAI_BASE_URL).hostname:
            raise ProviderConfigError("config.api_key", "is required for api.openai.com")
        return config

    @classmethod
    def from_config(cls, config, limits, *, name: str = "openai") -> OpenAICompatibleProvider:
        return cls(OpenAIConfig(api_key=config.get("api_key") or _NO_KEY, base_url=config["base_url"],
                                model=config["model"], organization=config.get("organization_id"),
                                timeout_seconds=limits.timeout_seconds, max_retries=limits.max_retries, name=name,
                                retry_seconds=limits.retry_seconds))

    def __init__(self, config: OpenAIConfig, client: openai.OpenAI | None = None):
        self.name = config.name
        self.model = config.model
        self._client = client or openai.OpenAI(api_key=config.api_key, base_url=config.base_url,
                                               organization=config.organization,
                                               timeout=config.timeout_seconds, max_retries=config.max_retries)
        self._retry_seconds = config.retry_seconds

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
        return _OpenAIStream(lambda stop: self._send(request, stop), request)

    def _send(self, request: dict, stop: threading.Event):
        # The client's own retries are off for this request: ours are bounded in time too (app/providers/retry.py).
        # Its max_retries, however a subclass built it, is the number of ours.
        policy = RetryPolicy(max_retries=self._client.max_retries, budget_seconds=self._retry_seconds)
        options = {"max_retries": 0}

        def send():
            for _ in range(len(_ADAPTABLE) + 1):
                try:
                    # `client.post` is the client's documented way to send a body as is. The typed
                    # `chat.completions.create` walks every nested JSON schema of every tool to transform
                    # it: about 20 ms per call here for one tool and a 5 KB prompt, on every round, before a
                    # byte is sent. Responses, streaming and errors are handled by the client either way.
                    return self._client.post("/chat/completions", body=request, cast_to=ChatCompletionChunk,
                                             stream=True, stream_cls=openai.Stream[ChatCompletionChunk],
                                             options=options)
                except openai.BadRequestError as exc:
                    if not _adapt(request, exc):
                        raise
            raise ProviderError("the provider refused every form of the request")

        return call_with_retries(send, policy, worth_retrying=_worth_retrying, asked_wait=_asked_wait, stop=stop)

    def embed(self, texts: list[str], model: str) -> list[list[float]]:
        """Embeddings for `texts`, in order, from this provider's `/embeddings` endpoint."""
        try:
            answer = self._client.embeddings.create(model=model, input=texts, encoding_format="float")
        except openai.OpenAIError as exc:
            raise translate_error(exc) from None
        vectors = sorted(answer.data, key=lambda item: item.index)
        if len(vectors) != len(texts) or any(not item.embedding for item in vectors):
            raise ProviderError("the provider answered a different number of embeddings than asked for")
        return [list(item.embedding) for item in vectors]
