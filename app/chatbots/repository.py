"""SQL for `ai.chatbots`: plain statements and functions that take a psycopg connection.

Three layers of configuration live in a row (see migration 0004):

    file_config + file_tools     what the definition file declared (replaced by every sync that changes it)
    config_overrides             keys an admin set through the REST API (kept across syncs)
    config + tools               the declared result, recomputed by `compose` whenever either side changes

`tools` holds only tools the server could run when the row was written (`spec.select_tools`
with the tool registry passed in); a named tool it could not run is left out and reported by
`spec.tool_warnings`. Server caps are not applied here: `config` is what was declared;
`spec.effective_config` gives what applies. `code` is the text the definition was last synced
from (migration 0009; NULL only on rows synced before it, until their next sync fills it).
Rows are returned as dataclasses; their JSON shape belongs to the web layer. Transactions belong to the caller; functions here only run statements.
"""
from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from app.chatbots.annotations import CONFIG_KEYS, ConfigError, default_config
from app.chatbots.spec import (
    ChatbotSpec,
    ServerPolicy,
    declared_tool_names,
    effective_config,
    select_tools,
)
from app.tools.registry import ToolRegistry

__all__ = [
    "ChatbotDraft",
    "ChatbotRecord",
    "ChatbotRow",
    "compose",
    "delete",
    "draft_from_spec",
    "fill_code",
    "find_by_name",
    "get",
    "get_by_name",
    "get_record",
    "insert",
    "is_current",
    "list_chatbots",
    "load_enabled",
    "names_in_namespace",
    "set_enabled",
    "update_config",
    "update_definition",
]

_COLUMNS = (
    "id, namespace, name, title, description, system_prompt, tools, config, file_config, file_tools, "
    "config_overrides, is_public, enabled, source, content_hash, code, version, created_at, updated_at"
)

SELECT_BY_ID = f"SELECT {_COLUMNS} FROM ai.chatbots WHERE id = %(id)s"
SELECT_BY_NAME = f"SELECT {_COLUMNS} FROM ai.chatbots WHERE namespace = %(namespace)s AND name = %(name)s"
SELECT_BY_NAME_ANY_NAMESPACE = f"SELECT {_COLUMNS} FROM ai.chatbots WHERE name = %(name)s ORDER BY namespace"
SELECT_LIST = f"""
SELECT {_COLUMNS} FROM ai.chatbots
 WHERE (%(namespace)s::text IS NULL OR namespace = %(namespace)s)
   AND (NOT %(public_only)s OR is_public)
   AND (NOT %(enabled_only)s OR enabled)
 ORDER BY namespace, name"""
SELECT_NAMESPACE_NAMES = "SELECT id, name, source FROM ai.chatbots WHERE namespace = %(namespace)s ORDER BY name"
INSERT = f"""
INSERT INTO ai.chatbots (namespace, name, title, description, system_prompt, tools, config, file_config,
                         file_tools, is_public, source, content_hash, code)
VALUES (%(namespace)s, %(name)s, %(title)s, %(description)s, %(system_prompt)s, %(tools)s, %(config)s,
        %(file_config)s, %(file_tools)s, %(is_public)s, %(source)s, %(content_hash)s, %(code)s)
RETURNING {_COLUMNS}"""
UPDATE_DEFINITION = f"""
UPDATE ai.chatbots
   SET title = %(title)s, description = %(description)s, system_prompt = %(system_prompt)s, tools = %(tools)s,
       config = %(config)s, file_config = %(file_config)s, file_tools = %(file_tools)s, is_public = %(is_public)s,
       source = %(source)s, content_hash = %(content_hash)s, code = %(code)s, version = version + 1,
       updated_at = now()
 WHERE id = %(id)s
RETURNING {_COLUMNS}"""
# The definition is unchanged, only its text was never stored (a row synced before migration 0009):
# not a new version and not a change anyone made, so neither `version` nor `updated_at` moves.
FILL_CODE = f"""
UPDATE ai.chatbots SET code = %(code)s
 WHERE id = %(id)s AND code IS DISTINCT FROM %(code)s
RETURNING {_COLUMNS}"""
UPDATE_CONFIG = f"""
UPDATE ai.chatbots
   SET config = %(config)s, tools = %(tools)s, config_overrides = %(overrides)s,
       version = version + CASE WHEN config IS DISTINCT FROM %(config)s THEN 1 ELSE 0 END, updated_at = now()
 WHERE id = %(id)s
RETURNING {_COLUMNS}"""
# Only a real change touches updated_at, so toggling twice to the same state is invisible.
SET_ENABLED = f"""
UPDATE ai.chatbots SET enabled = %(enabled)s, updated_at = now()
 WHERE id = %(id)s AND enabled IS DISTINCT FROM %(enabled)s
RETURNING {_COLUMNS}"""
DELETE = "DELETE FROM ai.chatbots WHERE id = %(id)s RETURNING id"


# -- record types ----------------------------------------------------------------


@dataclass(frozen=True)
class ChatbotRow:
    """One row of ai.chatbots as stored (config = declared, not narrowed)."""

    id: str
    namespace: str
    name: str
    title: str | None
    description: str
    system_prompt: str
    tools: tuple[dict[str, Any], ...] = field(hash=False)
    config: Mapping[str, Any] = field(hash=False)
    file_config: Mapping[str, Any] = field(hash=False)
    file_tools: tuple[dict[str, Any], ...] | None = field(hash=False)
    config_overrides: Mapping[str, Any] = field(hash=False)
    is_public: bool
    enabled: bool
    source: str
    content_hash: str
    code: str | None  # the synced text; None only on a row synced before migration 0009 and not since
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChatbotRecord:
    """What the chat runtime needs to run a turn."""

    id: str
    namespace: str
    name: str
    enabled: bool
    is_public: bool
    system_prompt: str
    tools: tuple[dict[str, Any], ...] = field(hash=False)
    config: dict[str, Any] = field(hash=False)  # a fresh copy per load: JSON-ready, every key
    version: int


@dataclass(frozen=True)
class ChatbotDraft:
    """A parsed definition on its way into the table (the file's side only)."""

    namespace: str
    name: str
    title: str | None
    description: str
    system_prompt: str
    is_public: bool
    file_config: Mapping[str, Any] = field(hash=False)
    file_tools: tuple[dict[str, Any], ...] | None = field(hash=False)
    content_hash: str
    code: str  # the text that was parsed (`ChatbotSpec.code`)


def draft_from_spec(spec: ChatbotSpec) -> ChatbotDraft:
    return ChatbotDraft(
        namespace=spec.namespace,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        system_prompt=spec.system_prompt,
        is_public=spec.is_public,
        file_config=spec.to_config_dict(),
        file_tools=spec.file_tools,
        content_hash=spec.content_hash,
        code=spec.code,
    )


def compose(file_config: Mapping[str, Any], file_tools: Sequence[dict[str, Any]] | None,
            overrides: Mapping[str, Any], registry: ToolRegistry) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """The declared config (every key, protocol order) and the tools it selects that `registry` runs.

    Raises ConfigError when the result would name http_get with no allowed domain, the
    one rule that ties config to tools (parse_chatbot refuses the same for files).
    """
    base = default_config()
    config = {key: overrides[key] if key in overrides else file_config.get(key, base[key]) for key in CONFIG_KEYS}
    if not config["http_allowed_domains"] and "http_get" in declared_tool_names(config, file_tools):
        raise ConfigError("http_allowed_domains", "the chatbot's tools include http_get, so at least one domain is needed")
    return config, select_tools(config, file_tools, registry)


def is_current(current: ChatbotRow, draft: ChatbotDraft, registry: ToolRegistry) -> bool:
    """Whether writing `draft` over `current` would change nothing.

    The same file is not enough: a server that gained or lost a tool offers a different set
    from the same file, and the stored row must follow. Raises ConfigError (see compose).
    """
    if draft.content_hash != current.content_hash or draft.file_tools != current.file_tools:
        return False
    _, tools = compose(draft.file_config, draft.file_tools, current.config_overrides, registry)
    return tools == current.tools


# -- reads -------------------------------------------------------------------------


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _one(conn: psycopg.Connection, query: str, params: Mapping[str, Any]) -> ChatbotRow | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query, params).fetchone()
    return None if row is None else _row(row)


def _many(conn: psycopg.Connection, query: str, params: Mapping[str, Any]) -> list[ChatbotRow]:
    with conn.cursor(row_factory=dict_row) as cur:
        return [_row(row) for row in cur.execute(query, params).fetchall()]


def get(conn: psycopg.Connection, chatbot_id: str, *, for_update: bool = False) -> ChatbotRow | None:
    """By id; a string that is not a UUID is simply not found."""
    normal = _uuid(chatbot_id)
    if normal is None:
        return None
    return _one(conn, SELECT_BY_ID + (" FOR UPDATE" if for_update else ""), {"id": normal})


def get_by_name(conn: psycopg.Connection, namespace: str, name: str, *, for_update: bool = False) -> ChatbotRow | None:
    return _one(conn, SELECT_BY_NAME + (" FOR UPDATE" if for_update else ""), {"namespace": namespace, "name": name})


def find_by_name(conn: psycopg.Connection, name: str) -> list[ChatbotRow]:
    """Every chatbot with this name, one per namespace, sorted by namespace."""
    return _many(conn, SELECT_BY_NAME_ANY_NAMESPACE, {"name": name})


def list_chatbots(conn: psycopg.Connection, *, namespace: str | None = None, public_only: bool = False,
                  enabled_only: bool = False) -> list[ChatbotRow]:
    return _many(conn, SELECT_LIST, {"namespace": namespace, "public_only": public_only, "enabled_only": enabled_only})


def names_in_namespace(conn: psycopg.Connection, namespace: str) -> list[dict[str, Any]]:
    """`{id, name, source}` of every chatbot in a namespace (what delete_missing looks at)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SELECT_NAMESPACE_NAMES, {"namespace": namespace}).fetchall()
    return [{"id": str(r["id"]), "name": r["name"], "source": r["source"]} for r in rows]


def load_enabled(conn: psycopg.Connection, namespace: str, name: str, *,
                 policy: ServerPolicy | None = None) -> ChatbotRecord | None:
    """The enabled chatbot `namespace/name`, or None when it is unknown or disabled.

    Pass the server policy (`policy.server_policy(settings)`) to get the config that
    applies; without it `config` is the declared one, which may exceed the server caps.
    """
    row = get_by_name(conn, namespace, name)
    if row is None or not row.enabled:
        return None
    return _record(row, policy)


def get_record(conn: psycopg.Connection, chatbot_id: str, *, policy: ServerPolicy | None = None) -> ChatbotRecord | None:
    """The chatbot with this id whether enabled or not (check `.enabled`); None when unknown.

    For work already accepted under a chatbot (a queued turn), found by the id it stored.
    """
    row = get(conn, chatbot_id)
    return None if row is None else _record(row, policy)


def _record(row: ChatbotRow, policy: ServerPolicy | None) -> ChatbotRecord:
    config = effective_config(row.config, policy) if policy is not None else dict(row.config)
    return ChatbotRecord(id=row.id, namespace=row.namespace, name=row.name, enabled=row.enabled,
                         is_public=row.is_public, system_prompt=row.system_prompt, tools=row.tools,
                         config=config, version=row.version)


# -- writes ------------------------------------------------------------------------


def insert(conn: psycopg.Connection, draft: ChatbotDraft, *, source: str, registry: ToolRegistry) -> ChatbotRow:
    config, tools = compose(draft.file_config, draft.file_tools, {}, registry)
    row = _one(conn, INSERT, {**_draft_params(draft, source), "config": Jsonb(config), "tools": Jsonb(list(tools))})
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row


def update_definition(conn: psycopg.Connection, current: ChatbotRow, draft: ChatbotDraft, *, source: str,
                      registry: ToolRegistry) -> ChatbotRow:
    """Replace the file's side of a chatbot; admin overrides and `enabled` are kept.

    A draft that `is_current` changes nothing but a missing `code` (`fill_code`; no version bump).
    Raises ConfigError when the new file and the kept overrides contradict each other.
    """
    if is_current(current, draft, registry):
        return fill_code(conn, current, draft.code)
    config, tools = compose(draft.file_config, draft.file_tools, current.config_overrides, registry)
    params = {**_draft_params(draft, source), "id": current.id, "config": Jsonb(config), "tools": Jsonb(list(tools))}
    row = _one(conn, UPDATE_DEFINITION, params)
    assert row is not None  # the caller holds the row (it just read it)
    return row


def fill_code(conn: psycopg.Connection, current: ChatbotRow, code: str) -> ChatbotRow:
    """Store `code` on a row whose definition is current (`is_current`) but whose text differs.

    In practice a row synced before migration 0009 (code NULL): its next sync fills it in even when
    the definition is unchanged, without a new version. Returns `current` when there is nothing to do.
    """
    if current.code == code:
        return current
    row = _one(conn, FILL_CODE, {"id": current.id, "code": code})
    return row if row is not None else current


def update_config(conn: psycopg.Connection, current: ChatbotRow, changes: Mapping[str, Any], *,
                  registry: ToolRegistry, reset: bool = False) -> ChatbotRow:
    """Apply admin config changes (already validated) on top of the file's config.

    `reset` drops earlier overrides first, so the file's values apply again. The version is
    bumped only when the declared config actually changes. Raises ConfigError (see compose).
    """
    overrides = {} if reset else dict(current.config_overrides)
    overrides.update(changes)
    # An override equal to the file's value is not an override: a later file edit should win.
    overrides = {k: v for k, v in overrides.items() if current.file_config.get(k, _MISSING) != v}
    config, tools = compose(current.file_config, current.file_tools, overrides, registry)
    if config == dict(current.config) and overrides == dict(current.config_overrides) and tools == current.tools:
        return current
    row = _one(conn, UPDATE_CONFIG, {"id": current.id, "config": Jsonb(config), "tools": Jsonb(list(tools)),
                                     "overrides": Jsonb(overrides)})
    assert row is not None
    return row


_MISSING = object()


def set_enabled(conn: psycopg.Connection, chatbot_id: str, enabled: bool) -> ChatbotRow | None:
    """Enable or disable; returns the row (unchanged when already in that state), None when unknown."""
    normal = _uuid(chatbot_id)
    if normal is None:
        return None
    row = _one(conn, SET_ENABLED, {"id": normal, "enabled": enabled})
    return row if row is not None else get(conn, normal)


def delete(conn: psycopg.Connection, chatbot_id: str) -> bool:
    """Delete a chatbot (its conversations go with it, by the foreign key); False when unknown."""
    normal = _uuid(chatbot_id)
    if normal is None:
        return False
    return conn.execute(DELETE, {"id": normal}).fetchone() is not None


def _draft_params(draft: ChatbotDraft, source: str) -> dict[str, Any]:
    return {
        "namespace": draft.namespace, "name": draft.name, "title": draft.title, "description": draft.description,
        "system_prompt": draft.system_prompt, "is_public": draft.is_public, "source": source,
        "content_hash": draft.content_hash, "code": draft.code, "file_config": Jsonb(dict(draft.file_config)),
        "file_tools": None if draft.file_tools is None else Jsonb(list(draft.file_tools)),
    }


# -- mapping -------------------------------------------------------------------------


def _row(raw: Mapping[str, Any]) -> ChatbotRow:
    base = default_config()
    stored = raw["config"] or {}
    config = {key: stored.get(key, base[key]) for key in CONFIG_KEYS}
    file_config = raw["file_config"] if raw["file_config"] is not None else config
    return ChatbotRow(
        id=str(raw["id"]), namespace=raw["namespace"], name=raw["name"], title=raw["title"],
        description=raw["description"], system_prompt=raw["system_prompt"], tools=tuple(raw["tools"] or ()),
        config=MappingProxyType(config), file_config=MappingProxyType(dict(file_config)),
        file_tools=None if raw["file_tools"] is None else tuple(raw["file_tools"]),
        config_overrides=MappingProxyType(dict(raw["config_overrides"] or {})), is_public=raw["is_public"],
        enabled=raw["enabled"], source=raw["source"], content_hash=raw["content_hash"], code=raw["code"],
        version=raw["version"],
        created_at=raw["created_at"], updated_at=raw["updated_at"],
    )

