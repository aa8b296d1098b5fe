"""PDFs written by hand for the extraction tests (pypdf writes no text content)."""
from __future__ import annotations

import io
import zlib


def pdf(text_stream: bytes, *, pages: int = 1, compress: bool = False) -> bytes:
    """A PDF of `pages` pages that all draw one content stream (Flate-compressed when asked), in Helvetica."""
    body = zlib.compress(text_stream, 9) if compress else text_stream
    flate = b" /Filter /FlateDecode" if compress else b""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
               b"<< /Length %d%s >>\nstream\n" % (len(body), flate) + body + b"\nendstream",
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


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF showing `text`."""
    return pdf(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())


def pdf_bomb(pages: int, lines: int) -> bytes:
    """`pages` pages that all draw one Flate-compressed stream of `lines` lines: a few KB, much text."""
    body = b"BT /F1 12 Tf 72 720 Td " + b"(All work and no play makes Jack a dull boy. ) Tj T* " * lines + b"ET"
    return pdf(body, pages=pages, compress=True)
