"""A signed-in user's own settings, at the paths Fluxbase's SDK calls (sdk/src/settings.ts, SettingsClient):

    GET    /api/v1/settings/user/list              [setting]  own plain settings          listSettings()
    GET    /api/v1/settings/user/<key>             setting + source: own, else system     getSetting(key)
    GET    /api/v1/settings/user/own/<key>         setting: own only                      getUserSetting(key)
    GET    /api/v1/settings/user/system/<key>      {key, value, is_secret, has_value}     getSystemSetting(key)
    PUT    /api/v1/settings/user/<key>  {value, description?}  setting (create or replace) setSetting(key, value)
    DELETE /api/v1/settings/user/<key>             204: own plain setting                 deleteSetting(key)
    POST   /api/v1/settings/secret/  {key, value, description?}  201 setting; 409 if it exists  setSecret (create)
    GET    /api/v1/settings/secret/                [setting]  own secrets                 listSecrets()
    GET    /api/v1/settings/secret/<key>           setting                                getSecret(key)
    PUT    /api/v1/settings/secret/<key>  {value?, description?}  setting; 404 if absent  setSecret (update)
    DELETE /api/v1/settings/secret/<key>           204                                    deleteSecret(key)
    GET    /api/v1/settings/<key>                  setting + source, as user/<key>        get(key)
    POST   /api/v1/settings/batch  {keys}          [setting + source] for the keys found  getMany(keys)

The caller must be a signed-in user (a JWT with a `sub`): 401 AUTH_REQUIRED otherwise, the service key
included (it is nobody's own). A user reads and writes only their own settings, and reads the system's
(the model reads those in prompts anyway); only admins write system settings (settings_admin.py). A
secret's value is never returned: `value` is null, `is_secret` true, `has_value` true.
"""
from __future__ import annotations

from flask import Blueprint, request

from app.auth.tokens import Principal
from app.protocol import Code, ProtocolError
from app.settings_store import repository as store
from app.settings_store.values import (
    InvalidSetting,
    check_description,
    check_secret,
    check_value,
)
from app.web.auth import current_principal
from app.web.context import web_context
from app.web.settings_json import (
    body,
    delete_answer,
    holding,
    key_of,
    register_errors,
    setting_object,
    sourced_object,
)

bp = Blueprint("settings_public", __name__, url_prefix="/api/v1/settings")
register_errors(bp)

MAX_BATCH_KEYS = 100


def _owner() -> Principal:
    principal = current_principal()
    if principal.user_id is None or principal.anonymous:
        raise ProtocolError(Code.AUTH_REQUIRED, "Sign in to read or change your settings: send a user JWT")
    return principal


@bp.before_request
def _credentials_first() -> None:
    _owner()
    if request.args:
        # A user's endpoints take no query parameters: `?user_id=` in particular addresses nobody
        # else here, and saying so beats silently answering for the caller.
        name = next(iter(request.args))
        raise ProtocolError(Code.INVALID_REQUEST, f"unknown query parameter {name[:40]!r} (these endpoints take none)",
                            field=name[:40])


def _db():
    return web_context().runtime.db.connection()


def _own(conn, key: str, user_id: str, *, secret: bool | None = None) -> store.SettingRow:
    row = store.get(conn, key, user_id)
    if row is None or (secret is not None and row.is_secret != secret):
        raise store.SettingNotFound(key)
    return row


def _fallback(conn, key: str, user_id: str) -> store.SettingRow | None:
    return store.get(conn, key, user_id) or store.get(conn, key, None)



# -- plain settings ---------------------------------------------------------------------------------

@bp.get("/user/list")
def list_own():
    owner = _owner()
    with _db() as conn:
        return [setting_object(row) for row in store.list_scope(conn, owner.user_id, secret=False)]


@bp.get("/user/<key>")
def get_with_fallback(key: str):
    owner, key = _owner(), key_of(key)
    with _db() as conn:
        row = _fallback(conn, key, owner.user_id)
    if row is None:
        raise store.SettingNotFound(key)
    return sourced_object(row)


@bp.get("/user/own/<key>")
def get_own(key: str):
    owner, key = _owner(), key_of(key)
    with _db() as conn:
        return setting_object(_own(conn, key, owner.user_id))


@bp.get("/user/system/<key>")
def get_system(key: str):
    _owner()
    key = key_of(key)
    with _db() as conn:
        row = store.get(conn, key, None)
    if row is None:
        raise store.SettingNotFound(key)
    shown = setting_object(row)
    return {name: shown[name] for name in ("key", "value", "is_secret", "has_value")}


@bp.put("/user/<key>")
def set_own(key: str):
    owner, key = _owner(), key_of(key)
    data = body(("value", "description"))
    value = check_value(data.get("value"))
    description = check_description(data.get("description"))
    with _db() as conn:
        row = store.put_value(conn, key, owner.user_id, value, description=description,
                              keep_description="description" not in data)
        conn.commit()
    return setting_object(row)


@bp.delete("/user/<key>")
def delete_own(key: str):
    owner, key = _owner(), key_of(key)
    return delete_answer(key, owner.user_id, secret=False)


# -- secrets ---------------------------------------------------------------------------------------

@bp.route("/secret", methods=["GET"])
@bp.route("/secret/", methods=["GET"])
def list_secrets():
    owner = _owner()
    with _db() as conn:
        return [setting_object(row) for row in store.list_scope(conn, owner.user_id, secret=True)]


@bp.route("/secret", methods=["POST"])
@bp.route("/secret/", methods=["POST"])
def create_secret():
    owner = _owner()
    data = body(("key", "value", "description"))
    key = key_of(data.get("key")) if isinstance(data.get("key"), str) else _missing_key()
    plaintext = data.get("value")
    with holding(key, plaintext):
        plaintext = check_secret(plaintext)
        description = check_description(data.get("description"))
        with _db() as conn:
            row = store.put_secret(conn, web_context().settings.encryption_key, key, owner.user_id, plaintext,
                                   description=description, mode=store.Write.CREATE)
            conn.commit()
    return setting_object(row), 201


def _missing_key() -> str:
    raise InvalidSetting("key", "is required, a setting key such as openweather.api_key")


@bp.get("/secret/<key>")
def get_secret(key: str):
    owner, key = _owner(), key_of(key)
    with _db() as conn:
        return setting_object(_own(conn, key, owner.user_id, secret=True))


@bp.put("/secret/<key>")
def update_secret(key: str):
    owner, key = _owner(), key_of(key)
    data = body(("value", "description"))
    plaintext = data.get("value")
    with holding(key, plaintext):
        plaintext = None if plaintext is None else check_secret(plaintext)
        description = check_description(data.get("description"))
        with _db() as conn:
            row = store.put_secret(conn, web_context().settings.encryption_key, key, owner.user_id, plaintext,
                                   description=description, keep_description="description" not in data,
                                   mode=store.Write.UPDATE)
            conn.commit()
    return setting_object(row)


@bp.delete("/secret/<key>")
def delete_secret(key: str):
    owner, key = _owner(), key_of(key)
    return delete_answer(key, owner.user_id, secret=True)


# -- reading with the system fallback -------------------------------------------------------------

@bp.post("/batch")
def batch():
    owner = _owner()
    keys = body(("keys",)).get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > MAX_BATCH_KEYS:
        raise InvalidSetting("keys", f"must be a list of 1 to {MAX_BATCH_KEYS} setting keys")
    keys = list(dict.fromkeys(key_of(key) for key in keys))
    with _db() as conn:
        rows = store.load_many(conn, keys, owner.user_id)
    found = {}
    for row in sorted(rows, key=lambda r: r.user_id is None):   # the user's own first
        found.setdefault(row.key, row)
    return [sourced_object(found[key]) for key in keys if key in found]


@bp.get("/<key>")
def get_one(key: str):
    return get_with_fallback(key)
