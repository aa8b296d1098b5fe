"""Extraction from uploads: each kind read, each refusal a typed error with a readable message."""
from __future__ import annotations

import io

import pypdf
import pytest

from app.knowledge import documents
from app.knowledge.documents import (
    BrokenDocument,
    DocumentTooLarge,
    UnsupportedDocument,
    extract_text,
)
from tests.app.knowledge.pdfs import pdf_with_text


def test_plain_markdown_html_and_pdf():
    assert extract_text("notes.txt", None, b"Hello\n\nworld") == ("Hello\n\nworld", "text")
    text, kind = extract_text("guide.md", "text/markdown", "# Title\n\nCaf\u00e9 **bold**".encode())
    assert (text, kind) == ("# Title\n\nCaf\u00e9 **bold**", "markdown")
    text, kind = extract_text("page", "text/html; charset=utf-8",
                              b"<html><body><h1>Returns</h1><p>Send it back.</p><p>Within 30 days.</p></body></html>")
    assert kind == "html" and "# Returns" in text and "Send it back.\n\nWithin 30 days." in text
    text, kind = extract_text("manual.pdf", "application/pdf", pdf_with_text("Lamps have a two-year warranty"))
    assert kind == "pdf" and "Lamps have a two-year warranty" in text


def test_empty_file():
    with pytest.raises(BrokenDocument, match="empty"):
        extract_text("empty.txt", "text/plain", b"")
    with pytest.raises(BrokenDocument, match="empty"):
        extract_text("blank.md", None, b"  \n\n")


def test_unsupported_type():
    with pytest.raises(UnsupportedDocument, match="'.docx'.*plain text, Markdown, HTML or PDF"):
        extract_text("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                     b"PK\x03\x04...")
    with pytest.raises(UnsupportedDocument, match="image/png"):
        extract_text("", "image/png", b"\x89PNG")


def test_not_utf8():
    with pytest.raises(BrokenDocument, match="not UTF-8"):
        extract_text("latin.txt", "text/plain", "caf\u00e9".encode("latin-1"))


def test_oversize(monkeypatch):
    with pytest.raises(DocumentTooLarge, match="the limit is"):
        extract_text("big.txt", "text/plain", b"x" * (documents.MAX_UPLOAD_BYTES + 1))
    monkeypatch.setattr(documents, "MAX_TEXT_CHARS", 10)
    with pytest.raises(DocumentTooLarge, match="characters of text"):
        extract_text("long.txt", "text/plain", b"eleven chars")


def test_broken_pdf():
    with pytest.raises(BrokenDocument, match="could not be read as a PDF"):
        extract_text("broken.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    good = pdf_with_text("cut here")
    with pytest.raises(BrokenDocument):
        extract_text("cut.pdf", None, good[: len(good) // 3])


def test_pdf_without_text():
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    data = io.BytesIO()
    writer.write(data)
    with pytest.raises(BrokenDocument, match="no extractable text"):
        extract_text("scan.pdf", "application/pdf", data.getvalue())
