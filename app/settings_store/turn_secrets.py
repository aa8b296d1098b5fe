"""The secrets one turn may use, for the http_get resolver and for scrubbing, and nothing else.

A chatbot may use the secret settings its prompt names (`{{key}}`, `{{user:key}}`, `{{system:key}}`,
`{{secret:key}}`) or its `@fluxbase:required-settings` lists; no other key resolves, whatever the
model writes. A key resolves in the scope the prompt reads it with (app/chat/templates.py
`scopes_of`), to the setting the prompt showed as `{{secret:key}}`: when the user has a plain value
and the system a secret under one key, `{{key}}` showed the user's plain value and the resolver has
nothing for it.

Every secret value loaded for those keys, the user's and the system's, is in the scrubber, whether
or not the turn sends it anywhere. The plaintext lives in the worker's memory for one attempt.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

from app.chat.templates import Scope, SettingsView
from app.secrets.scrub import NO_SECRETS, Scrubber
from app.secrets.sealing import SealError, SecretBox
from app.settings_store.repository import secret_box

__all__ = ["TurnSecrets", "NO_TURN_SECRETS", "turn_secrets"]

log = logging.getLogger(__name__)


class TurnSecrets:
    def __init__(self, resolved: Mapping[str, str], scrubber: Scrubber):
        self._resolved = dict(resolved)
        self.scrubber = scrubber

    def resolve(self, key: str) -> str | None:
        return self._resolved.get(key)

    def __bool__(self) -> bool:
        return bool(self.scrubber)

    def __repr__(self) -> str:  # never the values
        return f"TurnSecrets(keys={sorted(self._resolved)})"


NO_TURN_SECRETS = TurnSecrets({}, NO_SECRETS)


def turn_secrets(view: SettingsView, scopes: Mapping[str, Scope], encryption_key: str) -> TurnSecrets:
    boxes: dict[str | None, SecretBox] = {}
    opened: dict[tuple[str, str], str] = {}      # (scope name, key) -> plaintext
    for key in scopes:
        for name, setting in (("user", view.user.get(key)), ("system", view.system.get(key))):
            if setting is None or not setting.secret or setting.sealed is None:
                continue
            if setting.user_id not in boxes:
                boxes[setting.user_id] = secret_box(encryption_key, setting.user_id)
            try:
                opened[(name, key)] = boxes[setting.user_id].open(setting.sealed, f"app.settings:{key}")
            except SealError as exc:
                log.warning("the %s secret setting %s does not open and is not used: %s", name, key, exc)
    if not opened:
        return NO_TURN_SECRETS
    resolved = {}
    for key, scope in scopes.items():
        # The setting the prompt showed: the first scope, in the prompt's order, that has the key.
        shown = next((name for name in scope.order() if key in (view.user if name == "user" else view.system)), None)
        if shown is not None and (shown, key) in opened:
            resolved[key] = opened[(shown, key)]
    known: dict[str, list[str]] = {}
    for (_name, key), value in opened.items():
        known.setdefault(key, []).append(value)
    return TurnSecrets(resolved, Scrubber(known))
