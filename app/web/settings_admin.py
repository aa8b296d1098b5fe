"""System settings and any user's, for admins (the service key or an admin JWT), at the paths Fluxbase's
SDK calls (sdk/src/settings.ts, AppSettingsManager). `?user_id=<uuid>` on any of them addresses that
user's settings instead of the system's.

    GET    /api/v1/admin/settings                     {settings: [setting], count}: plain and secret, by key
    GET    /api/v1/admin/settings/custom              [setting]  plain                     listSettings()
    POST   /api/v1/admin/settings/custom  {key, value, description?, value_type?, is_public?, is_secret?}
                                                      201 setting; 409 if it exists        setSetting (create)
    GET    /api/v1/admin/settings/custom/<key>        setting                              getSetting(key)
    PUT    /api/v1/admin/settings/custom/<key>  {value, description?, value_type?, is_public?, is_secret?}
                                                      setting; 404 if absent               setSetting (update)
    DELETE /api/v1/admin/settings/custom/<key>        204                                  deleteSetting(key)
    POST   /api/v1/admin/settings/custom/secret  {key, value, description?}  201; 409     setSecretSetting (create)
    GET    /api/v1/admin/settings/custom/secrets      [setting]  secrets                   listSecretSettings()
    GET    /api/v1/admin/settings/custom/secret/<key> setting                              getSecretSetting(key)
    PUT    /api/v1/admin/settings/custom/secret/<key>  {value?, description?}  404 if absent  setSecretSetting (update)
    DELETE /api/v1/admin/settings/custom/secret/<key> 204                                  deleteSecretSetting(key)

A secret's value is never returned, to admins neither: Fluxbase's `.../secret/<key>/decrypt` is not
served (404). `value_type` is read off the value, not stored; `is_public` and `is_secret` are
accepted only as false here (no setting is readable without signing in; secrets have their own paths).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from app.settings_store import repository as store
from app.settings_store.values import (
    InvalidSetting,
    check_description,
    check_secret,
    check_value,
)
from app.web.auth import require_admin
from app.web.context import web_context
from app.web.query_params import QueryParams
from app.web.settings_json import (
    body,
    delete_answer,
    flag,
    holding,
    key_of,
    register_errors,
    setting_object,
)

bp = Blueprint("settings_admin", __name__, url_prefix="/api/v1/admin/settings")
register_errors(bp)

_PLAIN_KEYS = ("key", "value", "description", "value_type", "is_public", "is_secret")
_SECRET_KEYS = ("key", "value", "description")
_VALUE_TYPES = ("string", "number", "boolean", "json")


@bp.before_request
def _admins_only() -> None:
    require_admin()


def _scope() -> str | None:
    """The user addressed by `?user_id=`, or None for the system's settings."""
    return QueryParams(request.args, ("user_id",)).uuid("user_id")


def _db():
    return web_context().runtime.db.connection()



def _plain_body(*, with_key: bool) -> dict[str, Any]:
    data = body(_PLAIN_KEYS if with_key else _PLAIN_KEYS[1:])
    if flag(data, "is_secret"):
        raise InvalidSetting("is_secret", "secrets are written at /api/v1/admin/settings/custom/secret")
    if flag(data, "is_public"):
        raise InvalidSetting("is_public", "public settings are not supported: signed-in users read system settings")
    if data.get("value_type") is not None and data["value_type"] not in _VALUE_TYPES:
        raise InvalidSetting("value_type", f"must be one of {', '.join(_VALUE_TYPES)}")
    return data


def _key_in(data: dict[str, Any]) -> str:
    if "key" not in data:
        raise InvalidSetting("key", "is required, a setting key such as pelias.endpoint")
    return key_of(data["key"])


def _found(conn, key: str, user_id: str | None, *, secret: bool) -> store.SettingRow:
    row = store.get(conn, key, user_id)
    if row is None or row.is_secret != secret:
        raise store.SettingNotFound(key)
    return row


@bp.get("")
def list_all():
    user_id = _scope()
    with _db() as conn:
        rows = store.list_scope(conn, user_id)
    return {"settings": [setting_object(row) for row in rows], "count": len(rows)}


# -- plain settings ---------------------------------------------------------------------------------

@bp.get("/custom")
def list_plain():
    user_id = _scope()
    with _db() as conn:
        return [setting_object(row) for row in store.list_scope(conn, user_id, secret=False)]


@bp.post("/custom")
def create_plain():
    user_id = _scope()
    data = _plain_body(with_key=True)
    key, value = _key_in(data), check_value(data.get("value"))
    with _db() as conn:
        row = store.put_value(conn, key, user_id, value, description=check_description(data.get("description")),
                              mode=store.Write.CREATE)
        conn.commit()
    return setting_object(row), 201


@bp.get("/custom/<key>")
def get_plain(key: str):
    user_id, key = _scope(), key_of(key)
    with _db() as conn:
        return setting_object(_found(conn, key, user_id, secret=False))


@bp.put("/custom/<key>")
def update_plain(key: str):
    user_id, key = _scope(), key_of(key)
    data = _plain_body(with_key=False)
    value = check_value(data.get("value"))
    with _db() as conn:
        row = store.put_value(conn, key, user_id, value, description=check_description(data.get("description")),
                              keep_description="description" not in data, mode=store.Write.UPDATE)
        conn.commit()
    return setting_object(row)


@bp.delete("/custom/<key>")
def delete_plain(key: str):
    user_id, key = _scope(), key_of(key)
    return delete_answer(key, user_id, secret=False)


# -- secrets ---------------------------------------------------------------------------------------

@bp.get("/custom/secrets")
def list_secrets():
    user_id = _scope()
    with _db() as conn:
        return [setting_object(row) for row in store.list_scope(conn, user_id, secret=True)]


@bp.post("/custom/secret")
def create_secret():
    user_id = _scope()
    data = body(_SECRET_KEYS)
    key = _key_in(data)
    with holding(key, data.get("value")):
        plaintext = check_secret(data.get("value"))
        with _db() as conn:
            row = store.put_secret(conn, web_context().settings.encryption_key, key, user_id, plaintext,
                                   description=check_description(data.get("description")), mode=store.Write.CREATE)
            conn.commit()
    return setting_object(row), 201


@bp.get("/custom/secret/<key>")
def get_secret(key: str):
    user_id, key = _scope(), key_of(key)
    with _db() as conn:
        return setting_object(_found(conn, key, user_id, secret=True))


@bp.put("/custom/secret/<key>")
def update_secret(key: str):
    user_id, key = _scope(), key_of(key)
    data = body(_SECRET_KEYS[1:])
    plaintext = data.get("value")
    with holding(key, plaintext):
        plaintext = None if plaintext is None else check_secret(plaintext)
        with _db() as conn:
            row = store.put_secret(conn, web_context().settings.encryption_key, key, user_id, plaintext,
                                   description=check_description(data.get("description")),
                                   keep_description="description" not in data, mode=store.Write.UPDATE)
            conn.commit()
    return setting_object(row)


@bp.delete("/custom/secret/<key>")
def delete_secret(key: str):
    user_id, key = _scope(), key_of(key)
    return delete_answer(key, user_id, secret=True)
