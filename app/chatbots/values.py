"""Lenient parsing of annotation values: the text form written in a file (`20/min`, `yes`, `a, b`)
and the JSON form a REST client sends (20, true, ["a", "b"]) both become one normal value, or an
InvalidValue saying what is wrong. The annotation table (app/chatbots/annotations.py) names which
parser each annotation uses.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Callable, Iterable

from app.sql.operations import OPERATIONS
from app.text import storable
from app.tools.catalog import UnknownTool, check_tool_name

_MAX_INT = 2_147_483_647  # PostgreSQL `integer`; larger values are typos, not intentions
_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
SETTING_KEY = re.compile(r"[A-Za-z0-9._-]+")
KB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TRAILING_COMMENT = re.compile(r"\s+#(\s.*)?$")
_COUNT_RE = re.compile(r"([+-]?\d+)\s*([a-z]*)\s*(?:(?:/|\bper\b)\s*([a-z]+))?")


class InvalidValue(ValueError):
    """A value that does not fit its annotation; the caller adds where it came from."""


class ConfigError(ValueError):
    """A REST `config` entry that does not validate."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")


# -- value parsers -----------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(f"expected text (got {str(value)[:40]!r})")
    if "\x00" in value or storable(value) != value:
        # Values reach PostgreSQL, which stores neither NUL nor a lone UTF-16 surrogate.
        raise InvalidValue("must not contain NUL characters or unpaired surrogates (PostgreSQL cannot store them)")
    return value.strip()


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    word = _text(value).lower() if isinstance(value, str) else None
    if word in ("true", "yes", "1", "on"):
        return True
    if word in ("false", "no", "0", "off"):
        return False
    raise InvalidValue(f"expected true/false, yes/no or 1/0 (got {value!r})")


def _shown(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def int_parser(
    what: str, *, scales: dict[str, int] | None = None, per: Iterable[str] = (), examples: str = ""
) -> Callable[[Any], int]:
    """Whole numbers with optional scale suffixes (`24h`, `100k`) and a fixed `/unit` (`20/min`)."""
    scales = {"": 1, **(scales or {})}
    per = frozenset(per)
    expected = f"expected {what}" + (f", e.g. {examples}" if examples else "")

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise InvalidValue(f"{expected} (got {value!r})")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            number = value
        else:
            match = _COUNT_RE.fullmatch(_text(value).lower().replace("_", ""))
            if not match or match.group(2) not in scales or (match.group(3) or None) not in per | {None}:
                raise InvalidValue(f"{expected} (got {value!r})")
            number = int(match.group(1)) * scales[match.group(2)]
        if not 1 <= number <= _MAX_INT:
            raise InvalidValue(f"must be between 1 and {_MAX_INT} (got {_shown(value)})")
        return number

    return parse


def float_parser(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise InvalidValue(f"expected a number between {low} and {high} (got {value!r})")
        if isinstance(value, (int, float)):
            number = float(value)
        else:
            try:
                number = float(_text(value))
            except ValueError:
                raise InvalidValue(f"expected a number between {low} and {high} (got {value!r})") from None
        if not (math.isfinite(number) and low <= number <= high):
            raise InvalidValue(f"must be between {low} and {high} (got {_shown(value)})")
        return number

    return parse


# More entries than any real list needs (tables, operations, domains, tools): a longer one is refused
# before it costs anything.
MAX_LIST_ITEMS = 1000


def _items(value: Any) -> list[str]:
    """A comma list, or a JSON list whose items may themselves be comma lists; duplicates dropped."""
    parts = value if isinstance(value, (list, tuple)) else [value]
    if len(parts) > MAX_LIST_ITEMS:
        raise InvalidValue(f"a list of at most {MAX_LIST_ITEMS} entries is expected (got {len(parts)})")
    out: dict[str, None] = {}  # ordered, with constant-time membership
    for part in parts:
        for item in _text(part).split(","):
            item = item.strip()
            if item:
                out[item] = None
                if len(out) > MAX_LIST_ITEMS:
                    raise InvalidValue(f"a list of at most {MAX_LIST_ITEMS} entries is expected")
    return list(out)


def list_parser(check: Callable[[str], str]) -> Callable[[Any], list[str]]:
    def parse(value: Any) -> list[str]:
        return list(dict.fromkeys(check(item) for item in _items(value)))

    return parse


def _table(item: str) -> str:
    name = item.lower()
    if name == "*":
        return name
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise InvalidValue(f"{item!r} is not a table name (use `table`, `schema.table` or `*`)")
    return name


def parse_tables(value: Any) -> list[str]:
    tables = list_parser(_table)(value)
    # `*` already covers every table in the allowed schemas; extra names add nothing.
    return ["*"] if "*" in tables else tables


def parse_schema(item: str) -> str:
    if not _IDENT.fullmatch(item.lower()):
        raise InvalidValue(f"{item!r} is not a schema name")
    return item.lower()


def parse_operation(item: str) -> str:
    op = item.upper()
    if op not in OPERATIONS:
        raise InvalidValue(f"unknown operation {item!r} (allowed: {', '.join(OPERATIONS)})")
    return op


def parse_host(item: str) -> str:
    host = item.lower()
    if "://" in host or "/" in host or "@" in host or "?" in host:
        raise InvalidValue(f"{item!r}: give a bare host name such as api.example.com (no scheme, path or credentials)")
    name, _, port = host.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidValue(f"{item!r}: port must be 1-65535")
    # `*.example.com` allows example.com and every subdomain (docs/http_get.md); never a bare TLD or an IP.
    wildcard = name.startswith("*.")
    labels = name[2:].split(".") if wildcard else name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidValue(f"{item!r} is not a valid host name")
    if wildcard and (len(labels) < 2 or labels[-1].isdigit()):
        raise InvalidValue(f"{item!r}: a wildcard needs a domain under it, such as *.example.com")
    return host


def matching(pattern: re.Pattern, what: str) -> Callable[[str], str]:
    def check(item: str) -> str:
        if not pattern.fullmatch(item):
            raise InvalidValue(f"{item!r} is not a valid {what}")
        return item

    return check


def parse_tool(item: str) -> str:
    # Any documented name is accepted, runnable here or not: the chatbot loader warns about the rest.
    try:
        return check_tool_name(item.lower())
    except UnknownTool as exc:
        raise InvalidValue(str(exc)) from None


def optional_name(what: str) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None:
            return None
        text = _text(value)
        if not text or len(text) > 200 or any(c.isspace() for c in text):
            raise InvalidValue(f"expected a {what} without spaces (got {value!r})")
        return text

    return parse


def parse_description(value: Any) -> str:
    text = _text(value)
    if not text:
        raise InvalidValue("must not be empty")
    return text


# (ISO 639-1 code, English name, name in the language itself); the English name is canonical.
_LANGUAGES = (
    ("en", "English", "English"), ("de", "German", "Deutsch"), ("fr", "French", "Français"),
    ("es", "Spanish", "Español"), ("it", "Italian", "Italiano"), ("pt", "Portuguese", "Português"),
    ("nl", "Dutch", "Nederlands"), ("ja", "Japanese", "日本語"), ("zh", "Chinese", "中文"),
    ("ko", "Korean", "한국어"), ("ru", "Russian", "Русский"), ("uk", "Ukrainian", "Українська"),
    ("pl", "Polish", "Polski"), ("cs", "Czech", "Čeština"), ("sv", "Swedish", "Svenska"),
    ("da", "Danish", "Dansk"), ("no", "Norwegian", "Norsk"), ("fi", "Finnish", "Suomi"),
    ("el", "Greek", "Ελληνικά"), ("tr", "Turkish", "Türkçe"), ("ar", "Arabic", "العربية"),
    ("he", "Hebrew", "עברית"), ("hi", "Hindi", "हिन्दी"), ("id", "Indonesian", "Bahasa Indonesia"),
    ("vi", "Vietnamese", "Tiếng Việt"), ("th", "Thai", "ไทย"), ("hu", "Hungarian", "Magyar"),
    ("ro", "Romanian", "Română"),
)
_LANGUAGE_ALIASES = {"nb": "no", "nn": "no", "iw": "he", "in": "id"}  # Bokmål/Nynorsk and retired codes


def _fold(text: str) -> str:
    # "Francais" and "français" should both find French; accents are often lost in config files.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _language_index() -> dict[str, str]:
    index = {}
    for code, english, native in _LANGUAGES:
        for alias in (code, english, native):
            index[_fold(alias)] = english
    for alias, code in _LANGUAGE_ALIASES.items():
        index[alias] = index[code]
    return index


_LANGUAGE_INDEX = _language_index()


def parse_language(value: Any) -> str:
    text = _text(value)
    folded = _fold(text)
    if folded == "auto":
        return "auto"
    # Region tags (pt-BR, en_US, zh-Hans) choose the same language for our purpose.
    primary = re.split(r"[-_]", folded, maxsplit=1)[0] if re.fullmatch(r"[a-z]{2}([-_][a-z0-9]+)+", folded) else folded
    if primary in _LANGUAGE_INDEX:
        return _LANGUAGE_INDEX[primary]
    raise InvalidValue(f"unknown language {text!r} (use auto, an ISO 639-1 code such as de, or a name such as German)")
