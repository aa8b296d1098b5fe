"""Making untrusted text storable: what a model writes and what a tool returns can hold characters
PostgreSQL refuses (NUL, unpaired UTF-16 surrogates). Storing such a turn failed, so the turn
was run again and again; these characters become U+FFFD instead, once, where the text enters.
"""
from __future__ import annotations

from typing import Any

REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Round-trips a valid surrogate pair into its character; a lone surrogate becomes U+FFFD.
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", REPLACEMENT)


def storable_json(value: Any) -> Any:
    """`storable` applied to every string (keys included) of a parsed JSON value."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def one_line(text: str) -> str:
    """A title as a listing shows it: storable, control characters (C0, DEL, C1) and runs of white
    space made single spaces, trimmed."""
    text = storable(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())
