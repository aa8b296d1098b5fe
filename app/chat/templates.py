"""Resolving `{{...}}` templates in a system prompt: {{user_id}}, {{namespace}} and settings.

`{{key}}` reads the user's setting and falls back to the system one; `{{user:key}}` and
`{{system:key}}` read only that scope. A setting that has no value renders as nothing. A secret
setting never enters a prompt: it renders as the placeholder `{{secret:key}}`, which only the
http_get tool fills in, at execution time (app/tools/http_secrets.py). A prompt may also write
`{{secret:key}}` itself; it is left as it is.

Every key the prompt names is resolved (as Fluxbase's own resolver does), whether or not
`@fluxbase:required-settings` lists it; a required key must have a value for the user, in the scope
the prompt reads it with, or the chat does not start (`SETTINGS_MISSING`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from psycopg import Connection

from app.net.urls import PLACEHOLDER
from app.protocol import Code, ProtocolError
from app.secrets.scrub import placeholder
from app.settings_store import repository
from app.settings_store.values import as_text

__all__ = ["Scope", "SettingValue", "SettingsView", "load_settings", "missing", "references", "render",
           "require_settings", "scopes_of"]

_TEMPLATE = re.compile(r"\{\{\s*(?:(user|system):)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*\}\}")
_RESERVED = ("user_id", "namespace")


class Scope(Enum):
    USER = "user"        # {{user:key}}
    SYSTEM = "system"    # {{system:key}}
    EITHER = "either"    # {{key}}, {{secret:key}}, a required key the prompt does not name: user, then system

    def order(self) -> tuple[str, ...]:
        return {Scope.USER: ("user",), Scope.SYSTEM: ("system",), Scope.EITHER: ("user", "system")}[self]


@dataclass(frozen=True)
class SettingValue:
    value: str | None            # the text a template shows (app/settings_store/values.py as_text); None for a secret
    secret: bool
    sealed: str | None = field(default=None, repr=False)   # a secret's sealed text, for the turn's resolver
    user_id: str | None = None   # whose key sealed it (None: the system's)


@dataclass(frozen=True)
class SettingsView:
    user: Mapping[str, SettingValue]
    system: Mapping[str, SettingValue]

    def find(self, key: str, scope: Scope) -> SettingValue | None:
        for name in scope.order():
            found = (self.user if name == "user" else self.system).get(key)
            if found is not None:
                return found
        return None


def references(template: str) -> list[tuple[Scope, str]]:
    """Every setting the prompt names, with the scope it is read in (reserved names left out)."""
    found = []
    for match in _TEMPLATE.finditer(template):
        scope, key = match.group(1), match.group(2)
        if scope is None and key in _RESERVED:
            continue
        found.append((Scope(scope) if scope else Scope.EITHER, key))
    found.extend((Scope.EITHER, match.group(1)) for match in PLACEHOLDER.finditer(template))
    return found


def scopes_of(template: str, required: Iterable[str] = ()) -> dict[str, Scope]:
    """The scope each key is read in: the one the prompt uses, or user-then-system when it uses
    several (or none, for a required key it does not name)."""
    scopes: dict[str, Scope] = {}
    for scope, key in references(template):
        scopes[key] = scope if scopes.get(key, scope) is scope else Scope.EITHER
    for key in required:
        scopes.setdefault(key, Scope.EITHER)
    return scopes


def load_settings(conn: Connection, keys: Iterable[str], user_id: str | None) -> SettingsView:
    user, system = {}, {}
    for row in repository.load_many(conn, keys, user_id):
        target = system if row.user_id is None else user
        target[row.key] = SettingValue(None if row.is_secret else as_text(row.value), row.is_secret,
                                       sealed=row.sealed, user_id=row.user_id)
    return SettingsView(user, system)


def missing(required: Iterable[str], scopes: Mapping[str, Scope], settings: SettingsView) -> list[str]:
    return [key for key in required if settings.find(key, scopes.get(key, Scope.EITHER)) is None]


def require_settings(conn: Connection, system_prompt: str, required: Iterable[str], user_id: str | None) -> None:
    """SETTINGS_MISSING naming the first required key with no value for this user; nothing when all have one."""
    required = list(required)
    if not required:
        return
    scopes = scopes_of(system_prompt, required)
    absent = missing(required, scopes, load_settings(conn, required, user_id))
    if absent:
        raise missing_error(absent, scopes)


def missing_error(absent: list[str], scopes: Mapping[str, Scope]) -> ProtocolError:
    where = {Scope.USER: "a setting of yours", Scope.SYSTEM: "a system setting",
             Scope.EITHER: "a setting of yours or a system setting"}
    first = absent[0]
    more = f" (and {len(absent) - 1} more: {', '.join(absent[1:4])})" if len(absent) > 1 else ""
    return ProtocolError(Code.SETTINGS_MISSING,
                         f"This chatbot needs the setting {first!r}{more}: set it as "
                         f"{where[scopes.get(first, Scope.EITHER)]} (fluxbase settings set, or the settings API)",
                         setting=first)


def render(template: str, *, user_id: str | None, namespace: str, settings: SettingsView) -> str:
    def substitute(match: re.Match) -> str:
        scope, key = match.group(1), match.group(2)
        if scope is None and key == "user_id":
            return user_id or "anonymous"
        if scope is None and key == "namespace":
            return namespace
        found = settings.find(key, Scope(scope) if scope else Scope.EITHER)
        if found is None:
            return ""
        return placeholder(key) if found.secret else (found.value or "")

    return _TEMPLATE.sub(substitute, template)
