"""The `@fluxbase:` annotations: names, config keys, defaults and lenient value parsing.

One table drives both entry points: annotation lines from a definition file
(`apply_annotations`) and a partial `config` dict from the admin REST API
(`validate_config`). Each value parser accepts the text form written in a file
(`20/min`, `yes`, `a, b`) and the JSON form a REST client sends (20, true, ["a", "b"]).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Callable, Iterable, Mapping, Sequence

from app.chatbots.tsparse import AnnotationLine, ChatbotDefinitionError
from app.sql.operations import OPERATIONS
from app.text import storable
from app.tools.catalog import UnknownTool, check_tool_name

__all__ = [
    "ANNOTATIONS",
    "CONFIG_KEYS",
    "ConfigError",
    "InvalidValue",
    "ParsedAnnotations",
    "apply_annotations",
    "default_config",
    "validate_config",
]

_MAX_INT = 2_147_483_647  # PostgreSQL `integer`; larger values are typos, not intentions
_IDENT = re.compile(r"[a-z_][a-z0-9_$]*")
_HOST_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SETTING_KEY = re.compile(r"[A-Za-z0-9._-]+")
_KB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_TRAILING_COMMENT = re.compile(r"\s+#(\s.*)?$")
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
        raise InvalidValue("contains a NUL or an unpaired surrogate character, which cannot be stored")
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


def _int_parser(
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


def _float_parser(low: float, high: float) -> Callable[[Any], float]:
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


def _list_parser(check: Callable[[str], str]) -> Callable[[Any], list[str]]:
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
    tables = _list_parser(_table)(value)
    # `*` already covers every table in the allowed schemas; extra names add nothing.
    return ["*"] if "*" in tables else tables


def _schema(item: str) -> str:
    if not _IDENT.fullmatch(item.lower()):
        raise InvalidValue(f"{item!r} is not a schema name")
    return item.lower()


def _operation(item: str) -> str:
    op = item.upper()
    if op not in OPERATIONS:
        raise InvalidValue(f"unknown operation {item!r} (allowed: {', '.join(OPERATIONS)})")
    return op


def _host(item: str) -> str:
    host = item.lower()
    if "://" in host or "/" in host or "@" in host or "?" in host:
        raise InvalidValue(f"{item!r}: give a bare host name such as api.example.com (no scheme, path or credentials)")
    name, _, port = host.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidValue(f"{item!r}: port must be 1-65535")
    labels = name.split(".")
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InvalidValue(f"{item!r} is not a valid host name")
    return host


def _matching(pattern: re.Pattern, what: str) -> Callable[[str], str]:
    def check(item: str) -> str:
        if not pattern.fullmatch(item):
            raise InvalidValue(f"{item!r} is not a valid {what}")
        return item

    return check


def _tool(item: str) -> str:
    # Any documented name is accepted, runnable here or not: the chatbot loader warns about the rest.
    try:
        return check_tool_name(item.lower())
    except UnknownTool as exc:
        raise InvalidValue(str(exc)) from None


def _optional_name(what: str) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None:
            return None
        text = _text(value)
        if not text or len(text) > 200 or any(c.isspace() for c in text):
            raise InvalidValue(f"expected a {what} without spaces (got {value!r})")
        return text

    return parse


def _description(value: Any) -> str:
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


# -- the table ---------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    name: str  # as written after `@fluxbase:`
    key: str  # config key, or a top-level spec field when `top_level`
    default: Any
    parse: Callable[[Any], Any]
    help: str
    top_level: bool = False
    repeatable: bool = False
    bare: Any = None  # what the annotation means with nothing after it; None = a value is required


_REQUIRED = object()
_HOURS = {u: 1 for u in ("h", "hr", "hrs", "hour", "hours")} | {u: 24 for u in ("d", "day", "days")}
_PER_MINUTE = ("m", "min", "minute")
_PER_DAY = ("d", "day")


_ROWS = (
    Annotation("description", "description", _REQUIRED, _description, "short description of the chatbot (required)", top_level=True),
    Annotation("allowed-tables", "allowed_tables", ("*",), parse_tables, "tables the chatbot may use; `*` = all tables in the allowed schemas", bare=()),
    Annotation("allowed-operations", "allowed_operations", ("SELECT",), _list_parser(_operation), "SQL operations the chatbot may run", bare=()),
    Annotation("allowed-schemas", "allowed_schemas", ("public",), _list_parser(_schema), "schemas searched for unqualified tables", bare=()),
    Annotation("max-tokens", "max_tokens", 4096, _int_parser("a positive whole number"), "maximum tokens per response"),
    Annotation("temperature", "temperature", 0.7, _float_parser(0.0, 2.0), "sampling temperature"),
    Annotation("response-language", "response_language", "auto", parse_language, "`auto` (answer in the user's language) or a language"),
    Annotation("persist-conversations", "persist_conversations", False, parse_bool, "keep conversation history", bare=True),
    Annotation("conversation-ttl", "conversation_ttl_hours", 24, _int_parser("hours", scales=_HOURS, examples="24 or 24h"), "hours a stored conversation lives"),
    Annotation("max-turns", "max_turns", 50, _int_parser("a positive whole number"), "maximum messages in one conversation"),
    Annotation("rate-limit", "rate_limit_per_minute", 10, _int_parser("requests per minute", per=_PER_MINUTE, examples="20 or 20/min"), "requests per minute per user"),
    Annotation("daily-limit", "daily_request_limit", 100, _int_parser("requests per day", per=_PER_DAY, examples="500 or 500/day"), "requests per day per user"),
    Annotation("token-budget", "daily_token_budget", 50000, _int_parser("tokens per day", scales={"k": 1000, "m": 1_000_000}, per=_PER_DAY, examples="100000, 100k or 100000/day"), "tokens per day"),
    Annotation("allow-unauthenticated", "allow_unauthenticated", False, parse_bool, "allow anonymous users", bare=True),
    Annotation("public", "is_public", True, parse_bool, "list the chatbot publicly", top_level=True, bare=True),
    Annotation("http-allowed-domains", "http_allowed_domains", (), _list_parser(_host), "hosts the http_get tool may fetch; empty disables it", bare=()),
    Annotation("knowledge-base", "knowledge_bases", (), _list_parser(_matching(_KB_NAME, "knowledge base name")), "knowledge bases used for RAG", repeatable=True, bare=()),
    Annotation("rag-max-chunks", "rag_max_chunks", 5, _int_parser("a positive whole number"), "chunks retrieved for RAG context"),
    Annotation("rag-similarity-threshold", "rag_similarity_threshold", 0.7, _float_parser(0.0, 1.0), "minimum similarity for RAG chunks"),
    Annotation("required-settings", "required_settings", (), _list_parser(_matching(_SETTING_KEY, "setting key")), "settings loaded for {{...}} templates", bare=()),
    Annotation("mcp-tools", "mcp_tools", (), _list_parser(_tool), "tools to offer; empty means the legacy execute_sql tool", bare=()),
    Annotation("use-mcp-schema", "use_mcp_schema", False, parse_bool, "describe the schema from MCP resources", bare=True),
    Annotation("model", "model", None, _optional_name("model name"), "model override"),
    Annotation("provider", "provider", None, _optional_name("provider name"), "provider name override"),
)

ANNOTATIONS: dict[str, Annotation] = {row.name: row for row in _ROWS}
_BY_KEY: dict[str, Annotation] = {row.key: row for row in _ROWS if not row.top_level}
CONFIG_KEYS: tuple[str, ...] = tuple(_BY_KEY)
_NULLABLE = frozenset(("model", "provider"))


def default_config() -> dict[str, Any]:
    return {key: _copy(row.default) for key, row in _BY_KEY.items()}


def _copy(value: Any) -> Any:
    # Table defaults are tuples so that no caller can mutate them; configs hold fresh lists.
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class ParsedAnnotations:
    description: str
    is_public: bool
    config: dict[str, Any]  # every config key, defaults filled


def apply_annotations(lines: Sequence[AnnotationLine], where: str, *, doc_line: int | None = None,
                      fallbacks: Mapping[str, Any] | None = None) -> ParsedAnnotations:
    """Validate a file's annotation lines; the first problem raises ChatbotDefinitionError.

    `fallbacks` holds values, keyed like `Annotation.key` and already validated, for annotations
    the lines do not give (a sync payload's spec keys, `sync_service.spec_values`): a line always
    wins, a fallback only fills a gap. Without it the file is read exactly as written.
    """
    values: dict[str, Any] = {}
    first_seen: dict[str, int] = {}
    for entry in lines:
        row = ANNOTATIONS.get(entry.name)
        if row is None:
            hint = get_close_matches(entry.name, ANNOTATIONS, n=1)
            message = "unknown annotation" + (f" (did you mean @fluxbase:{hint[0]}?)" if hint else "")
            raise ChatbotDefinitionError(where, entry.line, message, annotation=entry.name)
        if entry.name in first_seen and not row.repeatable:
            raise ChatbotDefinitionError(where, entry.line, f"given more than once (first on line {first_seen[entry.name]})", annotation=entry.name)
        first_seen.setdefault(entry.name, entry.line)
        value = _TRAILING_COMMENT.sub("", entry.value).strip()
        try:
            if value:
                parsed = row.parse(value)
            elif row.bare is not None:
                parsed = _copy(row.bare)
            else:
                raise InvalidValue("needs a value")
        except InvalidValue as exc:
            raise ChatbotDefinitionError(where, entry.line, str(exc), annotation=entry.name) from None
        if row.repeatable and row.key in values:
            parsed = list(dict.fromkeys([*values[row.key], *parsed]))
            if len(parsed) > MAX_LIST_ITEMS:
                raise ChatbotDefinitionError(where, entry.line, f"at most {MAX_LIST_ITEMS} entries in all",
                                             annotation=entry.name)
        values[row.key] = parsed
    for key, value in (fallbacks or {}).items():
        values.setdefault(key, list(value) if isinstance(value, (list, tuple)) else value)
    if "description" not in values:
        raise ChatbotDefinitionError(where, doc_line, "missing; every chatbot needs a short description", annotation="description")
    config = default_config()
    config.update((k, v) for k, v in values.items() if k in _BY_KEY)
    return ParsedAnnotations(values["description"], values.get("is_public", ANNOTATIONS["public"].default), config)


def _storable(value: Any) -> bool:
    """Text PostgreSQL can keep (jsonb refuses NUL and lone surrogates)."""
    if isinstance(value, str):
        return "\x00" not in value and value.encode("utf-8", "surrogatepass") == value.encode("utf-8", "ignore")
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def validate_config(partial: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the given keys of a REST `config` object (others are left out)."""
    if not isinstance(partial, dict):
        raise ConfigError("config", "must be a JSON object")
    result: dict[str, Any] = {}
    for key, value in partial.items():
        row = _BY_KEY.get(key)
        if row is None:
            hint = get_close_matches(str(key), CONFIG_KEYS, n=1)
            raise ConfigError(str(key), "unknown config key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if value is None and key not in _NULLABLE:
            raise ConfigError(key, "must not be null")
        if not _storable(value):
            raise ConfigError(key, "must not contain NUL characters or unpaired surrogates")
        try:
            result[key] = row.parse(value) if value is not None else None
        except InvalidValue as exc:
            raise ConfigError(key, str(exc)) from None
    return result
