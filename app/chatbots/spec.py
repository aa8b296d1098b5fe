"""A parsed chatbot as a frozen `ChatbotSpec`, and the server policy that narrows it.

Tool selection (what the model is offered), in order:

1. If the file has `export const tools = [...]`, exactly the tools named there. Each entry
   names a Fluxbase tool (`app.tools.catalog`); its `description` and the `description` of
   each parameter (also nested ones) replace the tool's own wording. Entries may not add
   parameters or change a parameter's `type`; other schema keys (`required`, ...) are ignored
   because the tool's code defines what it accepts.
2. Else, if `@fluxbase:mcp-tools` lists tools, those.
3. Else the legacy `execute_sql` tool, but only when at least one operation and one table
   are allowed.
In cases 2 and 3, `http_get` is added when `@fluxbase:http-allowed-domains` is non-empty.
Offering `http_get` with no allowed domain is an error (every request would be refused).
Knowledge bases add no tool: RAG context is injected into the prompt instead.

Of the tools so named, the model is offered only those this server's registry can run; each
other one is a warning (`tool_warnings`), not an error, so a file written for a server with
more tools still loads. Its wording overrides cannot be checked without the tool, so they are
not kept: `file_tools` records such an entry by name only. A named tool whose scope
(app/tools/scopes.py) the chatbot's configuration does not grant is a warning too: it is offered,
and every call is refused with a message naming the scope.

A chatbot can narrow what the server allows but never widen it: `effective_config`
intersects operations with `ServerPolicy` and clamps limits to its caps.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from app.chatbots.annotations import CONFIG_KEYS, apply_annotations, default_config
from app.chatbots.tsparse import ChatbotDefinitionError, ToolEntry, parse_source
from app.sql.operations import OPERATIONS
from app.tools.catalog import UnknownTool, check_tool_name, unavailable_warning
from app.tools.registry import ToolRegistry, default_registry
from app.tools.scopes import granted_scopes, missing_scope_text

__all__ = [
    "ChatbotSpec",
    "NAME_PATTERN",
    "ServerPolicy",
    "declared_tool_names",
    "effective_config",
    "is_valid_name",
    "parse_chatbot",
    "select_tools",
    "tool_warnings",
]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_TOOL_KEYS = frozenset(("name", "description", "parameters"))


def is_valid_name(value: object) -> bool:
    """Chatbot names and namespaces: lower-case letters, digits, `-`, `_`; 1-63 chars."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True)
class ChatbotSpec:
    namespace: str
    name: str
    title: str | None  # first free-text line of the doc comment; None when there is none
    description: str
    system_prompt: str
    tools: tuple[dict[str, Any], ...] = field(hash=False)  # what the model is offered: runnable tools only
    # The file's own `tools` list (None when it has none): reworded definitions, or {"name": ...}
    # for a tool this server cannot run.
    file_tools: tuple[dict[str, Any], ...] | None = field(hash=False)
    is_public: bool
    config: Mapping[str, Any] = field(hash=False)  # read-only; list values are tuples
    content_hash: str
    warnings: tuple[str, ...]  # one per named tool the model is not offered (see `tool_warnings`)
    # The definition's text exactly as given (UTF-8, a BOM kept): what `content_hash` hashes, and
    # what the admin API shows as `code`, so it is the text that was parsed and nothing else.
    code: str

    def to_config_dict(self) -> dict[str, Any]:
        """The admin API's `config` object: every key, JSON-safe, in protocol order."""
        return {key: _jsonable(self.config[key]) for key in CONFIG_KEYS}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _frozen_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})


def parse_chatbot(code: bytes | str, *, name: str, namespace: str = "default", path: str | None = None,
                  registry: ToolRegistry | None = None, fallbacks: Mapping[str, Any] | None = None) -> ChatbotSpec:
    """Parse one definition file; any problem raises ChatbotDefinitionError.

    `registry` holds the tools this server runs (default: the built-in ones); it decides which
    named tools are offered and which are warnings. `fallbacks` (see `apply_annotations`) are
    annotation values for annotations the file does not carry: a sync payload's spec keys.
    """
    registry = registry if registry is not None else default_registry()
    where = path or (name if namespace == "default" else f"{namespace}/{name}")
    for kind, value in (("name", name), ("namespace", namespace)):
        if not is_valid_name(value):
            raise ChatbotDefinitionError(
                where, None, f"invalid chatbot {kind} {value!r} (lower-case letters, digits, '-' and '_', 1-63 characters)"
            )
    raw = code.encode("utf-8") if isinstance(code, str) else bytes(code)
    parsed = parse_source(raw, where)
    if not parsed.system_prompt.strip():
        raise ChatbotDefinitionError(where, parsed.prompt_line, "the system prompt (`export default`) is empty")
    doc = parsed.doc
    annotations = apply_annotations(doc.annotations if doc else (), where, doc_line=doc.line if doc else None,
                                    fallbacks=fallbacks)
    config = annotations.config
    file_tools = None if parsed.tools is None else _file_tools(parsed.tools, where, registry)
    if not config["http_allowed_domains"] and "http_get" in declared_tool_names(config, file_tools):
        line = next((e.line for e in parsed.tools or () if _entry_name(e) == "http_get"), doc.line if doc else None)
        raise ChatbotDefinitionError(where, line, "http_get is offered but no domain is allowed; set it", annotation="http-allowed-domains")
    return ChatbotSpec(
        namespace=namespace,
        name=name,
        title=doc.title if doc else None,
        description=annotations.description,
        system_prompt=parsed.system_prompt,
        tools=select_tools(config, file_tools, registry),
        file_tools=file_tools,
        is_public=annotations.is_public,
        config=_frozen_config(config),
        content_hash=hashlib.sha256(raw).hexdigest(),
        warnings=tool_warnings(config, file_tools, registry),
        code=raw.decode("utf-8"),  # parse_source has decoded it already, so this cannot fail
    )


# -- tools ---------------------------------------------------------------------


def declared_tool_names(config: Mapping[str, Any], file_tools: Iterable[Mapping[str, Any]] | None = None) -> tuple[str, ...]:
    """The tools a chatbot names (see the module docstring for the rule), runnable here or not."""
    if file_tools is not None:
        return tuple(tool["name"] for tool in file_tools)
    names = list(config.get("mcp_tools") or ())
    if not names and config.get("allowed_operations") and config.get("allowed_tables"):
        names = ["execute_sql"]
    if config.get("http_allowed_domains") and "http_get" not in names:
        names.append("http_get")
    return tuple(names)


def select_tools(config: Mapping[str, Any], file_tools: Iterable[Mapping[str, Any]] | None,
                 registry: ToolRegistry) -> tuple[dict[str, Any], ...]:
    """The tool definitions offered to the model: the named tools `registry` can run.

    Usable again after an admin changes `config`, with the file's tools passed back in.
    """
    if file_tools is None:
        return tuple(registry.definition(name) for name in declared_tool_names(config) if name in registry)
    # An entry kept by name only (its tool was missing when the file was read) gets the tool's own wording.
    return tuple(copy.deepcopy(dict(tool)) if "parameters" in tool else registry.definition(tool["name"])
                 for tool in file_tools if tool["name"] in registry)


def tool_warnings(config: Mapping[str, Any], file_tools: Iterable[Mapping[str, Any]] | None,
                  registry: ToolRegistry, offered: Iterable[Mapping[str, Any]] | None = None) -> tuple[str, ...]:
    """One line per tool the chatbot names that the model is not offered, naming the tool and why.

    Pass `offered` (a stored chatbot's `tools`) to also catch a tool this server runs now but did
    not when the chatbot was last written: it stays unoffered until the chatbot is synced again.
    """
    offered_names = None if offered is None else {tool.get("name") for tool in offered}
    granted = granted_scopes(config)
    warnings = []
    for name in declared_tool_names(config, file_tools):
        if name not in registry:
            warnings.append(unavailable_warning(name))
            continue
        if offered_names is not None and name not in offered_names:
            warnings.append(f"{name}: this server runs it now, but it is not offered to the model until the "
                            "chatbot is synced again")
        scope = registry.get(name).scope
        if scope is not None and scope not in granted:
            # Offered anyway: every call is refused with this same reason, which the model can relay.
            warnings.append(f"{name}: every call will be refused: {missing_scope_text(name, scope)}")
    return tuple(warnings)


def _entry_name(entry: ToolEntry) -> Any:
    return entry.value.get("name") if isinstance(entry.value, dict) else None


def _file_tools(entries: tuple[ToolEntry, ...], where: str, registry: ToolRegistry) -> tuple[dict[str, Any], ...]:
    tools = []
    seen: set[str] = set()
    for entry in entries:
        tool = _override(entry, where, registry)
        if tool["name"] in seen:
            raise ChatbotDefinitionError(where, entry.line, f"tool {tool['name']!r} is listed twice in `tools`")
        seen.add(tool["name"])
        tools.append(tool)
    return tuple(tools)


def _override(entry: ToolEntry, where: str, registry: ToolRegistry) -> dict[str, Any]:
    def fail(message: str):
        raise ChatbotDefinitionError(where, entry.line, message)

    value = entry.value
    if not isinstance(value, dict):
        fail("each `tools` entry must be an object with a `name`")
    extra = sorted(set(value) - _TOOL_KEYS)
    if extra:
        fail(f"unsupported key(s) in a `tools` entry: {', '.join(extra)} (allowed: name, description, parameters)")
    name = value.get("name")
    if not isinstance(name, str):
        fail("each `tools` entry needs a string `name`")
    try:
        check_tool_name(name)
    except UnknownTool as exc:
        fail(str(exc))
    if name not in registry:
        return {"name": name}  # nothing to check the wording against; tool_warnings reports it
    tool = registry.definition(name)
    if "description" in value:
        tool["description"] = _description(value["description"], f"tool {name!r}", fail)
    if "parameters" in value:
        _merge_schema(tool["parameters"], value["parameters"], f"tool {name!r} parameters", fail)
    return tool


def _description(value: Any, label: str, fail) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(f"{label}: `description` must be a non-empty string")
    return value.strip()


def _merge_schema(own: dict[str, Any], given: Any, label: str, fail) -> None:
    # Only wording is taken from the file: the tool's code defines what it accepts.
    if not isinstance(given, dict):
        fail(f"{label} must be an object")
    if "type" in given and given["type"] != own.get("type"):
        fail(f"{label}: type {given['type']!r} does not match the tool's type {own.get('type')!r}")
    if "description" in given:
        own["description"] = _description(given["description"], label, fail)
    properties = given.get("properties", {})
    if not isinstance(properties, dict):
        fail(f"{label}: `properties` must be an object")
    known = own.get("properties", {})
    for key, schema in properties.items():
        if key not in known:
            fail(f"{label}: the tool has no parameter {key!r} (it has: {', '.join(known) or 'none'})")
        _merge_schema(known[key], schema, f"{label}.{key}", fail)


# -- server policy -------------------------------------------------------------


@dataclass(frozen=True)
class ServerPolicy:
    """What the server permits any chatbot; None caps mean no server-wide cap."""

    allowed_operations: frozenset[str] = frozenset(OPERATIONS)
    max_tokens: int = 16384
    max_rate_limit_per_minute: int | None = None
    max_daily_request_limit: int | None = None
    max_daily_token_budget: int | None = None
    allow_unauthenticated: bool = True

    def __post_init__(self):
        ops = frozenset(op.upper() for op in self.allowed_operations)
        if not ops <= set(OPERATIONS):
            raise ValueError(f"unknown SQL operations in server policy: {sorted(ops - set(OPERATIONS))}")
        object.__setattr__(self, "allowed_operations", ops)


_CAPS = (
    ("max_tokens", "max_tokens"),
    ("rate_limit_per_minute", "max_rate_limit_per_minute"),
    ("daily_request_limit", "max_daily_request_limit"),
    ("daily_token_budget", "max_daily_token_budget"),
)


def effective_config(config: Mapping[str, Any], policy: ServerPolicy) -> dict[str, Any]:
    """The chatbot's config narrowed to the server policy (JSON-safe; missing keys get defaults)."""
    result = default_config()
    result.update((key, _jsonable(value)) for key, value in config.items())
    result["allowed_operations"] = [op for op in result["allowed_operations"] if op in policy.allowed_operations]
    for key, cap_name in _CAPS:
        cap = getattr(policy, cap_name)
        if cap is not None:
            result[key] = min(result[key], cap)
    result["allow_unauthenticated"] = bool(result["allow_unauthenticated"] and policy.allow_unauthenticated)
    return result
