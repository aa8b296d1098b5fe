"""The names the storage layer accepts: bucket names, object keys, listing prefixes, content types.

Keys never reach the file system as given (the local backend hex-encodes them), so these rules are
not the only defence against traversal; they keep names unambiguous and printable everywhere a key
is shown (listings the model reads, the client's events, an S3-compatible backend later): no `.` or
`..` segments, no absolute or backslash paths, no control, format or line-separator characters.
"""
from __future__ import annotations

import re
import unicodedata

from app.storage.errors import InvalidName

__all__ = ["MAX_KEY_BYTES", "POLICIES", "check_bucket_name", "check_content_type", "check_key", "check_policy",
           "check_prefix", "check_start_after"]

MAX_KEY_BYTES = 1024   # S3's limit, so keys written here fit an S3-compatible backend too
PRIVATE, PUBLIC_READ = "private", "public-read"
POLICIES = (PRIVATE, PUBLIC_READ)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
# type/subtype with optional parameters such as `; charset=utf-8` (RFC 6838 name characters).
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_CONTENT_TYPE = re.compile(rf"{_NAME}/{_NAME}(?:\s*;\s*[A-Za-z0-9_.-]{{1,64}}=(?:[A-Za-z0-9_.+-]{{1,64}}|\"[A-Za-z0-9_.+ -]{{1,64}}\"))*")
MAX_CONTENT_TYPE = 200
# Control (Cc), format (Cf: bidi overrides, zero-width characters), surrogates, private use, and the
# line and paragraph separators: each would let a key look like another one, or break a listing line.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def check_bucket_name(name: object) -> str:
    if not isinstance(name, str) or not _BUCKET.fullmatch(name):
        shown = repr(name[:70]) if isinstance(name, str) else type(name).__name__
        raise InvalidName(f"bucket name {shown} is not valid: 2-63 lower-case letters, digits and '-', "
                          "starting with a letter or digit")
    return name


def check_policy(policy: object) -> str:
    if policy not in POLICIES:
        raise InvalidName(f"policy must be one of {', '.join(POLICIES)}")
    return policy  # type: ignore[return-value]


def _characters(text: str, what: str) -> None:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidName(f"the {what} is longer than {MAX_KEY_BYTES} bytes")
    if "\ufffd" in text:  # what a NUL or a broken character becomes on its way in (app.text.storable)
        raise InvalidName(f"the {what} contains a NUL or an invalid character (shown as U+FFFD)")
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidName(f"the {what} contains a control or invisible character (U+{ord(char):04X})")
    if "\\" in text:
        raise InvalidName(f"the {what} contains a backslash; separate folders with '/'")


def check_key(key: object) -> str:
    """An object key: 1-1024 bytes of '/'-separated, non-empty segments, none of them `.` or `..`."""
    if not isinstance(key, str) or not key:
        raise InvalidName("the key must be a non-empty string such as 'reports/2024/summary.txt'")
    _characters(key, "key")
    if key.startswith("/") or re.match(r"[A-Za-z]:", key):
        raise InvalidName("the key must be relative (no leading '/' or drive letter)")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidName("the key may not have empty, '.' or '..' segments (no '//', './', '../' "
                              "or trailing '/')")
    return key


def check_prefix(prefix: object) -> str:
    """A listing prefix: empty, or the start of a key (a trailing '/' allowed); no `.`/`..` segments."""
    if prefix is None or prefix == "":
        return ""
    if not isinstance(prefix, str):
        raise InvalidName("the prefix must be a string")
    _characters(prefix, "prefix")
    if prefix.startswith("/"):
        raise InvalidName("the prefix must be relative (no leading '/')")
    if any(segment in (".", "..") for segment in prefix.split("/")) or "//" in prefix:
        raise InvalidName("the prefix may not have empty, '.' or '..' segments")
    return prefix


def check_start_after(value: object) -> str:
    """Where a listing resumes: any key-like string (only compared, never used as a path)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidName("start_after must be a string (the last key of the previous page)")
    _characters(value, "start_after value")
    return value


def check_content_type(value: object, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > MAX_CONTENT_TYPE or not _CONTENT_TYPE.fullmatch(value.strip()):
        raise InvalidName("content_type must be a media type such as 'text/plain', 'application/json' or "
                          "'image/png' (optionally '; charset=utf-8')")
    main, _, params = value.strip().partition(";")
    return main.strip().lower() + (";" + params if params else "")
