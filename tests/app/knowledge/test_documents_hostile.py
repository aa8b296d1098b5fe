"""Extraction against uploads built to cost the server: PDFs whose few kilobytes inflate into far
more text than the limit, and text no UTF-8 column takes."""
from __future__ import annotations

import io
import zlib

import pytest

from app.knowledge import documents
from app.knowledge.documents import (
    BrokenDocument,
    DocumentTooLarge,
    check_text,
    extract_text,
)


def _pdf(pages: int, lines: int) -> bytes:
    """`pages` pages that all draw one Flate-compressed content stream of `lines` lines of text."""
    body = b"BT /F1 12 Tf 72 720 Td " + b"(All work and no play makes Jack a dull boy. ) Tj T* " * lines + b"ET"
    packed = zlib.compress(body, 9)
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                b"/Resources << /Font << /F1 4 0 R >> >> >>"] * pages
    out = io.BytesIO(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_the_bomb_builder_makes_a_readable_pdf():
    text, kind = extract_text("small.pdf", None, _pdf(2, 3))
    assert kind == "pdf" and text.count("All work and no play") == 6


def test_a_page_that_inflates_past_the_content_limit_is_refused_before_its_text_is_read():
    # About 8 KB on the wire, 5 MB of content once inflated: pypdf's extraction of such a page takes
    # seconds to minutes of CPU (it grows faster than the content), in the web process.
    data = _pdf(1, 100_000)
    assert len(data) < 64_000
    with pytest.raises(DocumentTooLarge, match="page 1 has .* bytes of content"):
        extract_text("bomb.pdf", "application/pdf", data)


def test_pages_sharing_one_stream_stop_at_the_text_limit(monkeypatch):
    # 400 pages of one 50-line stream (about 2,200 characters each): the limit is passed on page 10 and
    # nothing after it is read (it used to read all 400 pages, then refuse).
    monkeypatch.setattr(documents, "MAX_TEXT_CHARS", 20_000)
    with pytest.raises(DocumentTooLarge, match="reached on page 10"):
        extract_text("pages.pdf", "application/pdf", _pdf(400, 50))


def test_unpaired_surrogates_are_a_broken_document():
    with pytest.raises(BrokenDocument, match="invalid Unicode"):
        check_text("refunds \ud800 within 30 days")
