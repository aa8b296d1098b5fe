"""Documents into chunks: recursive (default), paragraph, sentence or fixed.

Sizes and overlaps are in tokens of the local model's word-piece tokenizer (special tokens not
counted), whatever the base's embedder: close enough to a provider's own tokens to keep chunks in
its limits. Every chunk is a slice of the original text (`text[start:end]`), so newlines and
Markdown structure survive; nothing is normalised before splitting.

- recursive: semantic-text-splitter (Markdown-aware for Markdown and HTML sources): the largest
  semantic unit that fits (sections, then paragraphs, sentences, words), with overlap.
- paragraph / sentence: whole paragraphs (blank-line separated) / sentences packed up to the size;
  the overlap repeats the last whole units of the previous chunk that fit in it. A unit larger
  than the size is cut into fixed windows.
- fixed: windows of exactly `size` tokens stepping by `size - overlap`.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from app.knowledge.records import CHUNKING_STRATEGIES


@dataclass(frozen=True)
class Chunk:
    text: str
    position: int
    token_count: int
    start: int
    end: int


class ChunkingError(ValueError):
    pass


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# After sentence-final punctuation (and closing quotes or brackets), or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u2026])[\"')\]\u201d\u2019]*\s+|\n[ \t]*\n\s*")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _tokenizer():
    from app.knowledge.embedders import local_tokenizer

    return local_tokenizer(max_tokens=None, padding=False)


def count_tokens(texts: list[str]) -> list[int]:
    if not texts:
        return []
    return [len(e.ids) for e in _tokenizer().encode_batch(texts, add_special_tokens=False)]


@lru_cache(maxsize=32)
def _splitter(markdown: bool, size: int, overlap: int):
    from semantic_text_splitter import MarkdownSplitter, TextSplitter

    cls = MarkdownSplitter if markdown else TextSplitter
    return cls.from_huggingface_tokenizer(_tokenizer(), capacity=size, overlap=overlap)


def chunk_text(text: str, *, strategy: str = "recursive", size: int = 200, overlap: int = 0,
               source: str = "text") -> list[Chunk]:
    if strategy not in CHUNKING_STRATEGIES:
        raise ChunkingError(f"unknown chunking strategy {strategy!r}; one of {', '.join(CHUNKING_STRATEGIES)}")
    if size < 1 or overlap < 0 or overlap >= size:
        raise ChunkingError("chunk size must be positive and the overlap smaller than it")
    if not text.strip():
        return []
    if strategy == "recursive":
        spans = _recursive(text, size, overlap, markdown=source in ("markdown", "html"))
    elif strategy == "fixed":
        spans = _windows(text, 0, len(text), size, overlap)
    else:
        pattern = _PARAGRAPH_BREAK if strategy == "paragraph" else _SENTENCE_BREAK
        spans = _pack(text, _units(text, pattern), size, overlap)
    pieces = [text[start:end] for start, end in spans]
    counts = count_tokens(pieces)
    return [Chunk(piece, i, n, start, end) for i, (piece, n, (start, end)) in enumerate(zip(pieces, counts, spans))]


def _recursive(text: str, size: int, overlap: int, *, markdown: bool) -> list[tuple[int, int]]:
    splitter = _splitter(markdown, size, overlap)
    with _lock:
        found = splitter.chunk_indices(text)
    return [(offset, offset + len(piece)) for offset, piece in found if piece.strip()]


def _units(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    """Spans between the breaks, without their surrounding whitespace."""
    spans, start = [], 0
    for match in pattern.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        piece = text[a:b]
        stripped = piece.strip()
        if stripped:
            lead = len(piece) - len(piece.lstrip())
            out.append((a + lead, a + lead + len(stripped)))
    return out


def _windows(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Windows of `size` tokens over text[start:end], stepping by size - overlap."""
    offsets = [o for o in _tokenizer().encode(text[start:end], add_special_tokens=False).offsets if o[1] > o[0]]
    if not offsets:
        return [(start, end)] if text[start:end].strip() else []
    step, spans, i = size - overlap, [], 0
    while True:
        last = min(i + size, len(offsets)) - 1
        spans.append((start + offsets[i][0], start + offsets[last][1]))
        if last == len(offsets) - 1:
            return spans
        i += step


def _pack(text: str, units: list[tuple[int, int]], size: int, overlap: int) -> list[tuple[int, int]]:
    # Units over the size become fixed windows first, so every unit fits in a chunk.
    sized: list[tuple[int, int, int]] = []
    for (a, b), n in zip(units, count_tokens([text[a:b] for a, b in units])):
        if n <= size:
            sized.append((a, b, n))
        else:
            windows = _windows(text, a, b, size, 0)
            sized.extend((wa, wb, c) for (wa, wb), c in zip(windows, count_tokens([text[x:y] for x, y in windows])))
    chunks: list[tuple[int, int]] = []
    current: list[tuple[int, int, int]] = []
    total = 0
    for unit in sized:
        if current and total + unit[2] > size:
            chunks.append((current[0][0], current[-1][1]))
            carried = _tail(current, overlap)
            while carried and sum(u[2] for u in carried) + unit[2] > size:
                carried = carried[1:]
            current, total = carried, sum(u[2] for u in carried)
        current.append(unit)
        total += unit[2]
    if current:
        chunks.append((current[0][0], current[-1][1]))
    return chunks


def _tail(units: list[tuple[int, int, int]], overlap: int) -> list[tuple[int, int, int]]:
    """The last whole units of a chunk within `overlap` tokens, never all of them (progress)."""
    tail: list[tuple[int, int, int]] = []
    total = 0
    for unit in reversed(units[1:]):
        if total + unit[2] > overlap:
            break
        tail.insert(0, unit)
        total += unit[2]
    return tail
