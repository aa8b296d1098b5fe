"""Reply model and OpenAI wire-format payloads for the scripted LLM double.

Kept free of any HTTP code so the shapes (which are what client code actually
depends on) can be read and reviewed in one place. The server in
``llm_server.py`` only decides *when* to send what this module builds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

SYSTEM_FINGERPRINT = "fp_scripted0001"

Dialect = Literal["openai", "ollama"]
DIALECTS: tuple[str, ...] = ("openai", "ollama")
# What Ollama's OpenAI-compatible endpoint puts in every chunk, and what `GET /api/version` says.
OLLAMA_FINGERPRINT = "fp_ollama"
OLLAMA_VERSION = "0.6.5"
OLLAMA_MODELS: tuple[str, ...] = ("llama3.2:latest", "qwen2.5:7b", "nomic-embed-text:latest")

# OpenAI's (status -> error type, code) conventions; a client may branch on them.
_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country, region, or territory not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("tokens", "rate_limit_exceeded", "Rate limit reached. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + secrets.token_urlsafe(length)[:length].replace("-", "a").replace("_", "b")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id("call_"))

    @property
    def arguments_json(self) -> str:
        # A str is sent verbatim so tests can script malformed JSON from the model.
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)

    @classmethod
    def coerce(cls, value: ToolCall | Mapping[str, Any]) -> ToolCall:
        if isinstance(value, ToolCall):
            return value
        extra = {"id": value["id"]} if value.get("id") else {}
        return cls(name=value["name"], arguments=value.get("arguments", {}), **extra)


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    message: str
    type: str
    code: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None   # OpenAI's more precise header, sent beside or instead of retry-after
    param: str | None = None              # the request field the error is about, as OpenAI names it

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, code=self.code, param=self.param)

    def headers(self) -> dict[str, str]:
        headers = {}
        for name, value in (("retry-after", self.retry_after), ("retry-after-ms", self.retry_after_ms)):
            if value is not None:
                headers[name] = str(int(value)) if float(value).is_integer() else str(value)
        return headers


class Gate:
    """Holds scripted streams mid-answer until the test opens it; one gate can hold many replies.

    A socket that becomes (and stays) readable once opened, so every handler's `select` wakes."""

    def __init__(self) -> None:
        import socket

        self._r, self._w = socket.socketpair()
        self.opened = False

    def fileno(self) -> int:
        return self._r.fileno()

    def open(self) -> None:
        if not self.opened:
            self.opened = True
            self._w.send(b"x")


@dataclass(frozen=True)
class Reply:
    """One scripted answer to one chat-completions request.

    ``stall_after``/``cut_after`` count SSE data events (the role chunk is the
    first); for a non-streaming request they mean "never answer" / "drop the
    connection before answering".
    """

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    chunks: int = 3
    usage: tuple[int, int] | None = None
    report_usage: bool = True              # False: no usage anywhere, as some servers answer
    error: ErrorSpec | None = None
    stall_after: int | None = None
    cut_after: int | None = None
    delay_per_chunk: float = 0.0
    hold_after: int | None = None          # with `gate`: send this many events, then wait for the gate
    gate: Gate | None = field(default=None, compare=False)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    def describe(self) -> str:
        if self.error:
            return f"error {self.error.status}"
        if self.stall_after is not None:
            return f"stall after {self.stall_after} chunks"
        if self.cut_after is not None:
            return f"cut after {self.cut_after} chunks"
        if self.gate is not None:
            return f"held after {self.hold_after} chunks: {self.text!r}"
        if self.tool_calls:
            return "tool calls " + ", ".join(c.name for c in self.tool_calls)
        return f"text {self.text!r}"


# -- reply builders ---------------------------------------------------------------

def text_reply(text: str, *, chunks: int = 3, usage: tuple[int, int] | None = None,
               report_usage: bool = True) -> Reply:
    if usage is not None and not report_usage:
        raise ValueError("a reply that reports no usage cannot script one")
    return Reply(text=text, chunks=chunks, usage=usage, report_usage=report_usage)


def tool_calls_reply(
    calls: Sequence[ToolCall | Mapping[str, Any]],
    *,
    text: str | None = None,
    chunks: int = 3,
    usage: tuple[int, int] | None = None,
    report_usage: bool = True,
) -> Reply:
    if not calls:
        raise ValueError("tool_calls_reply needs at least one call")
    if usage is not None and not report_usage:
        raise ValueError("a reply that reports no usage cannot script one")
    return Reply(text=text, tool_calls=tuple(ToolCall.coerce(c) for c in calls), chunks=chunks, usage=usage,
                 report_usage=report_usage)


def error_reply(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    retry_after_ms: float | None = None,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> Reply:
    default_type, default_code, default_message = _ERROR_DEFAULTS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    spec = ErrorSpec(
        status=status,
        message=message or default_message,
        type=type or default_type,
        code=code if code is not None else default_code,
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        param=param,
    )
    return Reply(error=spec)


def _filler(after_chunks: int) -> tuple[str, int]:
    # Enough pieces that the stream is still unfinished after `after_chunks` events.
    pieces = after_chunks + 2
    return "".join(f"part{i} " for i in range(pieces)), pieces


def stall_reply(after_chunks: int = 2, text: str | None = None) -> Reply:
    filler, pieces = _filler(after_chunks)
    return Reply(text=text or filler, chunks=pieces, stall_after=after_chunks)


def cut_reply(after_chunks: int = 2, text: str | None = None) -> Reply:
    filler, pieces = _filler(after_chunks)
    return Reply(text=text or filler, chunks=pieces, cut_after=after_chunks)


def held_reply(text: str, gate: Gate, *, after_chunks: int = 2, chunks: int = 5,
               usage: tuple[int, int] | None = None) -> Reply:
    return Reply(text=text, chunks=max(chunks, after_chunks + 1), usage=usage, hold_after=after_chunks, gate=gate)


def slow_reply(text: str, delay_per_chunk: float, *, chunks: int = 5,
               usage: tuple[int, int] | None = None) -> Reply:
    return Reply(text=text, chunks=chunks, usage=usage, delay_per_chunk=delay_per_chunk)


# -- wire payloads ------------------------------------------------------------------

def error_body(message: str, *, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def split_text(text: str, pieces: int) -> list[str]:
    """Split into `pieces` non-empty, roughly equal parts (fewer if text is short)."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    bounds = [round(i * len(text) / pieces) for i in range(pieces + 1)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def estimate_tokens(value: object) -> int:
    # Roughly OpenAI's 4-chars-per-token rule; only needs to be stable and plausible.
    raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return max(1, math.ceil(len(raw) / 4))


def usage_body(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    }


@dataclass(frozen=True)
class CompletionContext:
    """Per-request facts that shape the payload but are not part of the script."""

    model: str
    request_body: Mapping[str, Any]
    azure: bool = False
    dialect: Dialect = "openai"
    id: str = ""  # by dialect when not given
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        if not self.id:
            # Ollama numbers its completions ("chatcmpl-412"); OpenAI's ids are random text.
            chosen = f"chatcmpl-{secrets.randbelow(999)}" if self.dialect == "ollama" else new_id("chatcmpl-", 29)
            object.__setattr__(self, "id", chosen)

    @property
    def include_usage(self) -> bool:
        options = self.request_body.get("stream_options") or {}
        return bool(isinstance(options, Mapping) and options.get("include_usage"))

    def usage(self, reply: Reply) -> dict[str, Any] | None:
        """None when the reply reports no usage."""
        if not reply.report_usage:
            return None
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            prompt = estimate_tokens([self.request_body.get("messages"), self.request_body.get("tools")])
            produced = (reply.text or "") + "".join(c.name + c.arguments_json for c in reply.tool_calls)
            completion = estimate_tokens(produced)
        if self.dialect == "ollama":
            # Its prompt_eval_count and eval_count, under OpenAI's names and nothing more.
            return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        return usage_body(prompt, completion)


def _tool_call_body(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments_json}}


_AZURE_FILTER_OK = {
    name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")
}


def completion_body(reply: Reply, ctx: CompletionContext) -> dict[str, Any]:
    if ctx.dialect == "ollama":
        return _ollama_completion_body(reply, ctx)
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.tool_calls:
        message["tool_calls"] = [_tool_call_body(c) for c in reply.tool_calls]
    choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None,
                              "finish_reason": reply.finish_reason}
    body: dict[str, Any] = {
        "id": ctx.id, "object": "chat.completion", "created": ctx.created, "model": ctx.model,
        "choices": [choice], "usage": ctx.usage(reply),
        "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    if body["usage"] is None:
        del body["usage"]
    if ctx.azure:
        choice["content_filter_results"] = _AZURE_FILTER_OK
        body["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _AZURE_FILTER_OK}]
    return body


def stream_events(reply: Reply, ctx: CompletionContext) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects OpenAI (or Ollama, by `ctx.dialect`) would stream for `reply`, in order."""
    if ctx.dialect == "ollama":
        yield from _ollama_stream_events(reply, ctx)
        return

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        if ctx.azure:
            choice["content_filter_results"] = {} if finish_reason else _AZURE_FILTER_OK
        body: dict[str, Any] = {
            "id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
            "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT, "choices": [choice],
        }
        if ctx.include_usage:
            body["usage"] = None  # OpenAI sends an explicit null until the usage chunk
        return body

    if ctx.azure:
        # Azure opens with a choice-less prompt-filter chunk; clients indexing
        # choices[0] unguarded crash on it in production, so reproduce it.
        yield {"choices": [], "created": 0, "id": "", "model": "", "object": "",
               "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _AZURE_FILTER_OK}]}

    calls = list(reply.tool_calls)
    role: dict[str, Any] = {"role": "assistant", "content": "" if reply.text is not None else None, "refusal": None}
    if reply.text is None and calls:
        # Tool-only answers carry the first call's header in the role chunk, as OpenAI does.
        role["tool_calls"] = [_tool_call_header(0, calls[0])]
    yield chunk(role)
    for piece in split_text(reply.text or "", reply.chunks):
        yield chunk({"content": piece})
    for index, call in enumerate(calls):
        if index > 0 or "tool_calls" not in role:
            yield chunk({"tool_calls": [_tool_call_header(index, call)]})
        for fragment in split_text(call.arguments_json, reply.chunks):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    yield chunk({}, reply.finish_reason)
    usage = ctx.usage(reply) if ctx.include_usage else None
    if usage is not None:
        yield {"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
               "service_tier": "default", "system_fingerprint": SYSTEM_FINGERPRINT,
               "choices": [], "usage": usage}


def _tool_call_header(index: int, call: ToolCall) -> dict[str, Any]:
    return {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}


# -- Ollama's OpenAI-compatible output (its server's openai/openai.go) ---------------------

def _ollama_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    # Whole calls, never fragments: Ollama parses them out of the model's output before sending.
    return [{"id": c.id, "index": i, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for i, c in enumerate(calls)]


def _ollama_stream_events(reply: Reply, ctx: CompletionContext) -> Iterator[dict[str, Any]]:
    """No role-only opening chunk, the role in every delta, no service_tier, logprobs or `usage: null`;
    tool calls whole in one chunk; the last chunk with a choice carries the finish reason; usage only
    in a final choice-less chunk, when asked for."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
                "system_fingerprint": OLLAMA_FINGERPRINT,
                "choices": [{"index": 0, "delta": {"role": "assistant", **delta}, "finish_reason": finish_reason}]}

    for piece in split_text(reply.text or "", reply.chunks):
        yield chunk({"content": piece})
    if reply.tool_calls:
        yield chunk({"content": "", "tool_calls": _ollama_tool_calls(reply.tool_calls)})
    yield chunk({"content": ""}, reply.finish_reason)
    usage = ctx.usage(reply) if ctx.include_usage else None
    if usage is not None:
        yield {"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
               "system_fingerprint": OLLAMA_FINGERPRINT, "choices": [], "usage": usage}


def _ollama_completion_body(reply: Reply, ctx: CompletionContext) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or ""}
    if reply.tool_calls:
        message["tool_calls"] = _ollama_tool_calls(reply.tool_calls)
    body: dict[str, Any] = {
        "id": ctx.id, "object": "chat.completion", "created": ctx.created, "model": ctx.model,
        "system_fingerprint": OLLAMA_FINGERPRINT,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
    }
    usage = ctx.usage(reply)
    if usage is not None:
        body["usage"] = usage
    return body


def _ollama_family(name: str) -> str:
    base = name.split(":", 1)[0]
    return re.sub(r"[\d.]+$", "", base.split("-", 1)[0]) or base


def ollama_tags_body(models: Sequence[str]) -> dict[str, Any]:
    """`GET /api/tags`: the models pulled into this Ollama."""
    return {"models": [{
        "name": name, "model": name, "modified_at": "2025-01-15T10:20:30.123456789Z",
        "size": 2019393189, "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {"parent_model": "", "format": "gguf", "family": _ollama_family(name),
                    "families": [_ollama_family(name)], "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
    } for name in models]}


def ollama_models_body(models: Sequence[str], created: int) -> dict[str, Any]:
    """`GET /v1/models` as Ollama answers it."""
    return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "library"}
                                       for name in models]}


# -- embeddings ---------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def embed(text: str, dimensions: int) -> list[float]:
    """Deterministic unit vector: hashed bag of words, so shared words mean higher cosine.

    Values are rounded to float32 so the float and base64 encodings agree exactly.
    """
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()) or [text]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "little") % dimensions
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    packed = struct.pack(f"<{dimensions}f", *(v / norm for v in vector))
    return list(struct.unpack(f"<{dimensions}f", packed))


def _as_texts(value: object) -> list[str]:
    # `input` may be a string, a list of strings, token ids, or lists of token ids.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]
    if isinstance(value, list):
        return [v if isinstance(v, str) else " ".join(map(str, v)) for v in value]
    raise ValueError("'input' must be a string or an array")


def embeddings_body(request_body: Mapping[str, Any], *, model: str, default_dimensions: int) -> dict[str, Any]:
    texts = _as_texts(request_body.get("input"))
    dimensions = int(request_body.get("dimensions") or default_dimensions)
    as_base64 = request_body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embed(text, dimensions)
        encoded: Any = (base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
                        if as_base64 else vector)
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(estimate_tokens(t) for t in texts)
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
