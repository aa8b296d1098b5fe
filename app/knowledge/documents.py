"""Text out of uploaded files: plain text, Markdown, HTML (html2text) and PDF (pypdf).

Errors carry a message a client can act on; the web layer maps DocumentTooLarge to 413 and the
others to 400.
"""
from __future__ import annotations

import io
import os

# An upload larger than this is refused before parsing.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
# Extracted text larger than this is refused (about 500 pages of prose; a few thousand chunks).
MAX_TEXT_CHARS = 2_000_000
# PDFs with more pages are refused (pypdf reads about 100 pages a second).
MAX_PDF_PAGES = 2000
# A page whose content streams decompress to more than this is refused before its text is read:
# pypdf's text extraction grows faster than linearly with a page's content (a 230 KB upload whose
# one page inflates to 60 MB held a web process for over ten minutes). A dense text page is ~50 KB.
MAX_PDF_PAGE_CONTENT_BYTES = 4 * 1024 * 1024

TEXT_TYPES = {"text/plain": "text", "text/markdown": "markdown", "text/x-markdown": "markdown",
              "text/html": "html", "application/xhtml+xml": "html", "application/pdf": "pdf"}
EXTENSIONS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
              ".html": "html", ".htm": "html", ".xhtml": "html", ".pdf": "pdf", ".rst": "text", ".csv": "text"}


class DocumentError(Exception):
    """The upload cannot become a document; the message says why."""


class UnsupportedDocument(DocumentError):
    pass


class DocumentTooLarge(DocumentError):
    pass


class BrokenDocument(DocumentError):
    pass


def source_kind(filename: str, content_type: str | None) -> str:
    """text, markdown, html or pdf: the extension decides, else the content type."""
    ext = os.path.splitext(filename or "")[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    base_type = (content_type or "").split(";")[0].strip().lower()
    if base_type in TEXT_TYPES:
        return TEXT_TYPES[base_type]
    if not ext and base_type in ("", "application/octet-stream"):
        return "text"  # no name, no type: read it as text (it must still decode as UTF-8)
    shown = ext or base_type
    raise UnsupportedDocument(f"unsupported file type {shown!r}: upload plain text, Markdown, HTML or PDF")


def extract_text(filename: str, content_type: str | None, data: bytes) -> tuple[str, str]:
    """(text, source kind) of an uploaded file."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise DocumentTooLarge(f"{filename or 'the file'} is {len(data)} bytes; the limit is {MAX_UPLOAD_BYTES}")
    kind = source_kind(filename, content_type)
    if not data.strip():
        raise BrokenDocument(f"{filename or 'the file'} is empty")
    if kind == "pdf":
        text = _pdf_text(filename, data)
    else:
        text = _decode(filename, data)
        if kind == "html":
            text = html_to_markdown(text)
    return check_text(text, filename), kind


def check_text(text: str, filename: str = "") -> str:
    """The limits a JSON document's content goes through as well."""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BrokenDocument(f"{filename or 'the document'} contains invalid Unicode (an unpaired surrogate)") from None
    if not text.strip():
        raise BrokenDocument(f"{filename or 'the document'} has no text")
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentTooLarge(f"{filename or 'the document'} has {len(text)} characters of text; "
                               f"the limit is {MAX_TEXT_CHARS}")
    return text


def _decode(filename: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BrokenDocument(f"{filename or 'the file'} is not UTF-8 text") from None


def html_to_markdown(html: str) -> str:
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0          # no hard wrapping: chunking keeps paragraphs by blank lines
    converter.ignore_images = True
    converter.unicode_snob = True
    return converter.handle(html)


def _pdf_text(filename: str, data: bytes) -> str:
    import pypdf
    from pypdf.errors import PyPdfError

    name = filename or "the PDF"
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise BrokenDocument(f"{name} is encrypted")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise DocumentTooLarge(f"{name} has {len(reader.pages)} pages; the limit is {MAX_PDF_PAGES}")
        pages = _pdf_pages(name, reader)
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise BrokenDocument(f"{name} could not be read as a PDF ({type(exc).__name__})") from None
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text:
        raise BrokenDocument(f"{name} has no extractable text (a scanned PDF needs OCR first)")
    return text


def _pdf_pages(name: str, reader) -> list[str]:
    """Each page's text, stopping as soon as the text is over MAX_TEXT_CHARS: pages that share one
    large content stream would otherwise each be read in full before the limit is checked."""
    pages: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, 1):
        size = _content_bytes(page)
        if size > MAX_PDF_PAGE_CONTENT_BYTES:
            raise DocumentTooLarge(f"{name}: page {number} has {size} bytes of content; "
                                   f"the limit is {MAX_PDF_PAGE_CONTENT_BYTES}")
        text = page.extract_text() or ""
        total += len(text)
        if total > MAX_TEXT_CHARS:
            raise DocumentTooLarge(f"{name} has more than {MAX_TEXT_CHARS} characters of text "
                                   f"(reached on page {number})")
        pages.append(text)
    return pages


def _content_bytes(page) -> int:
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(stream.get_object().get_data()) for stream in streams)
