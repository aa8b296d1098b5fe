"""Extraction against uploads built to cost the server: PDFs whose few kilobytes inflate into far
more text than the limit, and text no UTF-8 column takes."""
from __future__ import annotations

import pytest

from app.knowledge import documents
from app.knowledge.documents import (
    BrokenDocument,
    DocumentTooLarge,
    check_text,
    extract_text,
)
from tests.app.knowledge.pdfs import pdf_bomb


def test_the_bomb_builder_makes_a_readable_pdf():
    text, kind = extract_text("small.pdf", None, pdf_bomb(2, 3))
    assert kind == "pdf" and text.count("All work and no play") == 6


def test_a_page_that_inflates_past_the_content_limit_is_refused_before_its_text_is_read():
    # About 8 KB on the wire, 5 MB of content once inflated: pypdf's extraction of such a page takes
    # seconds to minutes of CPU (it grows faster than the content), in the web process.
    data = pdf_bomb(1, 100_000)
    assert len(data) < 64_000
    with pytest.raises(DocumentTooLarge, match="page 1 has .* bytes of content"):
        extract_text("bomb.pdf", "application/pdf", data)


def test_pages_sharing_one_stream_stop_at_the_text_limit(monkeypatch):
    # 400 pages of one 50-line stream (about 2,200 characters each): the limit is passed on page 10 and
    # nothing after it is read (it used to read all 400 pages, then refuse).
    monkeypatch.setattr(documents, "MAX_TEXT_CHARS", 20_000)
    with pytest.raises(DocumentTooLarge, match="reached on page 10"):
        extract_text("pages.pdf", "application/pdf", pdf_bomb(400, 50))


def test_unpaired_surrogates_are_a_broken_document():
    with pytest.raises(BrokenDocument, match="invalid Unicode"):
        check_text("refunds \ud800 within 30 days")
