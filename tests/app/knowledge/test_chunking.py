"""Chunking: boundaries kept, sizes respected, overlap present, and the text never rewritten."""
from __future__ import annotations

import pytest

from app.knowledge.chunking import ChunkingError, chunk_text, count_tokens

DOC = """# Returns

You can return any item within 30 days of delivery. Items must be unused and in their box.
Refunds go back to the card you paid with, within five working days.

## Shipping

We ship to every country in the European Union. Orders over 50 EUR ship free!
Express delivery takes two working days; standard delivery takes four.

## Warranty

Every lamp has a two-year warranty. Keep your receipt: we ask for it.
"""


@pytest.mark.parametrize("strategy", ["recursive", "paragraph", "sentence", "fixed"])
def test_chunks_are_slices_of_the_text_within_the_size(strategy):
    chunks = chunk_text(DOC, strategy=strategy, size=40, overlap=10, source="markdown")
    assert len(chunks) > 1
    for i, chunk in enumerate(chunks):
        assert chunk.position == i
        assert DOC[chunk.start:chunk.end] == chunk.text     # newlines and Markdown untouched
        assert chunk.token_count == count_tokens([chunk.text])[0]
        assert chunk.token_count <= 40
    # Everything is covered: each word of the document is in some chunk.
    joined = " ".join(c.text for c in chunks)
    assert all(word in joined for word in DOC.split())


def test_recursive_keeps_markdown_sections_whole_when_they_fit():
    chunks = chunk_text(DOC, strategy="recursive", size=60, overlap=0, source="markdown")
    # Cut between sections, never inside one (the document is larger than the size, each section smaller).
    assert len(chunks) >= 2 and all(c.text.startswith("#") for c in chunks), [c.text for c in chunks]
    assert "\n" in chunks[0].text


def test_paragraph_chunks_end_at_blank_lines():
    chunks = chunk_text(DOC, strategy="paragraph", size=45, overlap=0)
    for chunk in chunks:
        after = DOC[chunk.end:chunk.end + 2]
        assert after in ("\n\n", "\n") or chunk.end == len(DOC.rstrip())


def test_sentence_chunks_end_at_sentence_ends():
    chunks = chunk_text(DOC, strategy="sentence", size=20, overlap=0)
    assert len(chunks) >= 6
    # Each chunk ends at the end of a sentence, or of a heading line (a unit of its own).
    last_lines = [c.text.splitlines()[-1] for c in chunks]
    assert all(line[-1] in ".!" or line.startswith("#") for line in last_lines), last_lines


def test_sentence_overlap_repeats_the_last_whole_sentence():
    chunks = chunk_text(DOC, strategy="sentence", size=40, overlap=20)
    repeated = [b for a, b in zip(chunks, chunks[1:]) if b.start < a.end]
    assert repeated, "no chunk overlaps its predecessor"
    for a, b in zip(chunks, chunks[1:]):
        if b.start < a.end:
            assert count_tokens([DOC[b.start:a.end]])[0] <= 20
            assert a.text.endswith(DOC[b.start:a.end])


def test_fixed_windows_overlap_by_exactly_the_overlap():
    chunks = chunk_text(DOC, strategy="fixed", size=30, overlap=10)
    assert all(c.token_count == 30 for c in chunks[:-1])
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end
        assert count_tokens([DOC[b.start:a.end]])[0] == 10


def test_recursive_overlap_is_whole_sentences_up_to_the_overlap():
    prose = " ".join(f"Sentence number {i} is here and it says something about lamps." for i in range(20))
    chunks = chunk_text(prose, strategy="recursive", size=30, overlap=15)
    assert all(c.token_count <= 30 for c in chunks)
    for a, b in zip(chunks, chunks[1:]):
        shared = prose[b.start:a.end]
        assert b.start < a.end and shared.startswith("Sentence") and shared.endswith("lamps.")
        assert count_tokens([shared])[0] <= 15


def test_a_paragraph_longer_than_the_size_is_cut():
    long = " ".join(["word"] * 500)
    chunks = chunk_text(long, strategy="paragraph", size=100, overlap=0)
    assert len(chunks) == 5 and all(c.token_count <= 100 for c in chunks)


def test_empty_text_has_no_chunks_and_bad_sizes_are_refused():
    assert chunk_text("  \n\n ", strategy="recursive", size=10) == []
    with pytest.raises(ChunkingError):
        chunk_text(DOC, strategy="recursive", size=10, overlap=10)
    with pytest.raises(ChunkingError):
        chunk_text(DOC, strategy="semantic", size=10)
