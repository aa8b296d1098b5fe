"""The `@fluxbase:` annotations: names, config keys, defaults, and which parser reads each value.

One table drives both entry points: annotation lines from a definition file
(`apply_annotations`) and a partial `config` dict from the admin REST API
(`validate_config`). The value parsers (app/chatbots/values.py) accept the text form written in
a file (`20/min`, `yes`, `a, b`) and the JSON form a REST client sends (20, true, ["a", "b"]).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Callable, Mapping, Sequence

from app.chatbots.approval_rules import parse_approval
from app.chatbots.tsparse import AnnotationLine, ChatbotDefinitionError
from app.chatbots.values import (
    KB_NAME,
    MAX_LIST_ITEMS,
    SETTING_KEY,
    TRAILING_COMMENT,
    ConfigError,
    InvalidValue,
    float_parser,
    int_parser,
    list_parser,
    matching,
    optional_name,
    parse_bool,
    parse_description,
    parse_host,
    parse_language,
    parse_operation,
    parse_schema,
    parse_tables,
    parse_tool,
)

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
    Annotation("description", "description", _REQUIRED, parse_description, "short description of the chatbot (required)", top_level=True),
    Annotation("allowed-tables", "allowed_tables", ("*",), parse_tables, "tables the chatbot may use; `*` = all tables in the allowed schemas", bare=()),
    Annotation("allowed-operations", "allowed_operations", ("SELECT",), list_parser(parse_operation), "SQL operations the chatbot may run", bare=()),
    Annotation("allowed-schemas", "allowed_schemas", ("public",), list_parser(parse_schema), "schemas searched for unqualified tables", bare=()),
    Annotation("max-tokens", "max_tokens", 4096, int_parser("a positive whole number"), "maximum tokens per response"),
    Annotation("temperature", "temperature", 0.7, float_parser(0.0, 2.0), "sampling temperature"),
    Annotation("response-language", "response_language", "auto", parse_language, "`auto` (answer in the user's language) or a language"),
    Annotation("persist-conversations", "persist_conversations", False, parse_bool, "keep conversation history", bare=True),
    Annotation("conversation-ttl", "conversation_ttl_hours", 24, int_parser("hours", scales=_HOURS, examples="24 or 24h"), "hours a stored conversation lives"),
    Annotation("max-turns", "max_turns", 50, int_parser("a positive whole number"), "maximum messages in one conversation"),
    Annotation("rate-limit", "rate_limit_per_minute", 10, int_parser("requests per minute", per=_PER_MINUTE, examples="20 or 20/min"), "requests per minute per user"),
    Annotation("daily-limit", "daily_request_limit", 100, int_parser("requests per day", per=_PER_DAY, examples="500 or 500/day"), "requests per day per user"),
    Annotation("token-budget", "daily_token_budget", 50000, int_parser("tokens per day", scales={"k": 1000, "m": 1_000_000}, per=_PER_DAY, examples="100000, 100k or 100000/day"), "tokens per day"),
    Annotation("allow-unauthenticated", "allow_unauthenticated", False, parse_bool, "allow anonymous users", bare=True),
    Annotation("public", "is_public", True, parse_bool, "list the chatbot publicly", top_level=True, bare=True),
    Annotation("http-allowed-domains", "http_allowed_domains", (), list_parser(parse_host), "hosts the http_get tool may fetch; empty disables it", bare=()),
    Annotation("knowledge-base", "knowledge_bases", (), list_parser(matching(KB_NAME, "knowledge base name")), "knowledge bases used for RAG", repeatable=True, bare=()),
    Annotation("rag-max-chunks", "rag_max_chunks", 5, int_parser("a positive whole number"), "chunks retrieved for RAG context"),
    Annotation("rag-similarity-threshold", "rag_similarity_threshold", 0.7, float_parser(0.0, 1.0), "minimum similarity for RAG chunks"),
    Annotation("required-settings", "required_settings", (), list_parser(matching(SETTING_KEY, "setting key")), "settings loaded for {{...}} templates", bare=()),
    Annotation("mcp-tools", "mcp_tools", (), list_parser(parse_tool), "tools to offer; empty means the legacy execute_sql tool", bare=()),
    Annotation("use-mcp-schema", "use_mcp_schema", False, parse_bool, "describe the schema from MCP resources", bare=True),
    Annotation("approval", "approval", (), parse_approval, "per tool (or tool:OPERATION): allow, ask (wait for the user's approval) or deny; docs/approval.md", bare=()),
    Annotation("model", "model", None, optional_name("model name"), "model override"),
    Annotation("provider", "provider", None, optional_name("provider name"), "provider name override"),
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
    the lines do not give (a sync payload's spec keys, `spec_payload.spec_values`): a line always
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
        value = TRAILING_COMMENT.sub("", entry.value).strip()
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
        try:
            result[key] = row.parse(value) if value is not None else None
        except InvalidValue as exc:
            raise ConfigError(key, str(exc)) from None
    return result
