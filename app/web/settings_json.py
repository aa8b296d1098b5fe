"""What the settings endpoints share: the JSON shape of a setting, body and key checks, and the error
mapping. A secret's value is never in any shape here: `value` is null, `is_secret` and `has_value`
say what is there.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, request

from app.protocol import Code, ProtocolError
from app.secrets import scrub
from app.settings_store import repository as store
from app.settings_store.values import (
    InvalidSetting,
    check_key,
    check_secret,
    value_type,
)
from app.web.context import web_context
from app.web.errors import refusal_response

__all__ = ["body", "delete_answer", "holding", "key_of", "register_errors", "setting_object", "sourced_object"]


def setting_object(row: store.SettingRow) -> dict[str, Any]:
    """Fluxbase's UserSetting / CustomSetting / SecretSettingMetadata (sdk/src/types.ts) in one shape."""
    return {
        "id": row.id, "key": row.key, "value": None if row.is_secret else row.value,
        "value_type": None if row.is_secret else value_type(row.value), "description": row.description,
        "user_id": row.user_id, "is_secret": row.is_secret, "has_value": row.has_value,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def sourced_object(row: store.SettingRow) -> dict[str, Any]:
    """UserSettingWithSource: the setting a `{{key}}` template would read, and where it came from."""
    return {**setting_object(row), "source": "system" if row.user_id is None else "user"}


def key_of(raw: str) -> str:
    return check_key(raw)


def body(allowed: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = request.get_json(force=True, silent=True)
    except RecursionError:
        data = None
    if not isinstance(data, dict):
        raise ProtocolError(Code.INVALID_REQUEST, "the request body must be a JSON object")
    unknown = sorted(str(key)[:40] for key in data if key not in allowed)
    if unknown:
        raise ProtocolError(Code.INVALID_REQUEST, f"unknown key(s): {', '.join(unknown[:5])} "
                                                  f"(allowed: {', '.join(allowed)})", field=unknown[0])
    return data


def flag(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidSetting(name, "must be true or false")
    return value


def delete_answer(key: str, user_id: str, *, secret: bool):
    """DELETE of one setting: 204, or 404 SETTING_NOT_FOUND (also when it is of the other kind)."""
    with web_context().runtime.db.connection() as conn:
        deleted = store.delete(conn, key, user_id, secret=secret)
        conn.commit()
    if not deleted:
        raise store.SettingNotFound(key)
    return "", 204


def holding(key: str, plaintext: Any) -> AbstractContextManager:
    """While a secret is being written, no log line of this process can carry its value."""
    # Only a value that can be a secret: one that cannot is refused next, and must not break this.
    try:
        values = [check_secret(plaintext)]
    except InvalidSetting:
        values = []
    return scrub.held(scrub.Scrubber({key: values}))




def register_errors(bp: Blueprint) -> None:
    @bp.errorhandler(InvalidSetting)
    def _invalid(exc: InvalidSetting):
        return refusal_response(Code.INVALID_REQUEST, str(exc), field=exc.field)

    @bp.errorhandler(store.SettingNotFound)
    def _not_found(exc: store.SettingNotFound):
        return refusal_response(Code.SETTING_NOT_FOUND, f"Setting not found: {exc}")

    @bp.errorhandler(store.SettingExists)
    def _exists(exc: store.SettingExists):
        return refusal_response(Code.SETTING_EXISTS, f"A setting {exc} exists already (change it with PUT, or delete it)")

    @bp.errorhandler(store.KindMismatch)
    def _kind(exc: store.KindMismatch):
        return refusal_response(Code.SETTING_EXISTS, str(exc), is_secret=exc.is_secret)
