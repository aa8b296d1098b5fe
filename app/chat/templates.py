"""Resolving `{{...}}` templates in a system prompt: {{user_id}}, {{namespace}} and settings.

`{{key}}` reads the user's setting and falls back to the system one; `{{user:key}}` and
`{{system:key}}` read only that scope. Secret settings never enter a prompt: they render as a
`[secret:key]` marker that a tool may swap for the value when it runs.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from psycopg import Connection

_TEMPLATE = re.compile(r"\{\{\s*(?:(user|system):)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*\}\}")
NOT_SET = "(not set)"


@dataclass(frozen=True)
class SettingValue:
    value: str | None
    secret: bool


@dataclass(frozen=True)
class SettingsView:
    user: Mapping[str, SettingValue]
    system: Mapping[str, SettingValue]


LOAD_SETTINGS = """
select key, user_id, value, is_secret from app.settings
 where key = any(%(keys)s) and (user_id is null or user_id = %(user_id)s)
"""


def load_settings(conn: Connection, keys: list[str], user_id: str | None) -> SettingsView:
    if not keys:
        return SettingsView({}, {})
    rows = conn.execute(LOAD_SETTINGS, {"keys": list(keys), "user_id": user_id}).fetchall()
    user, system = {}, {}
    for row in rows:
        target = system if row["user_id"] is None else user
        target[row["key"]] = SettingValue(row["value"], row["is_secret"])
    return SettingsView(user, system)


def render(template: str, *, user_id: str | None, namespace: str, settings: SettingsView) -> str:
    def substitute(match: re.Match) -> str:
        scope, key = match.group(1), match.group(2)
        if scope is None and key == "user_id":
            return user_id or "anonymous"
        if scope is None and key == "namespace":
            return namespace
        if scope == "user":
            found = settings.user.get(key)
        elif scope == "system":
            found = settings.system.get(key)
        else:
            found = settings.user.get(key) or settings.system.get(key)
        if found is None or (found.value is None and not found.secret):
            return NOT_SET
        return f"[secret:{key}]" if found.secret else found.value

    return _TEMPLATE.sub(substitute, template)
