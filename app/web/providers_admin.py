"""Admin provider endpoints; every route needs an admin caller (the service key or an admin JWT).

    GET    /api/v1/admin/ai/providers                  {providers: [provider], count}
    POST   /api/v1/admin/ai/providers                  {name, provider_type, config, display_name?, is_default?,
                                                        enabled?, embedding_model?} -> 201 provider
    GET    /api/v1/admin/ai/providers/<id>             provider
    PUT    /api/v1/admin/ai/providers/<id>             {display_name?, enabled?, config?, embedding_model?} -> provider
    DELETE /api/v1/admin/ai/providers/<id>             {deleted: true, id}
    PUT    /api/v1/admin/ai/providers/<id>/default     provider (is_default: true)
    PUT    /api/v1/admin/ai/providers/<id>/embedding   provider (use_for_embeddings: true)
    DELETE /api/v1/admin/ai/providers/<id>/embedding   provider (use_for_embeddings: false)
    POST   /api/v1/admin/ai/providers/<id>/test        {success, latency_ms, model, ...} or {success: false, error, code}

`config.api_key` is never returned: it shows as "***", and sending "***" back keeps the stored key.
The provider from OPENAI_* is listed with id FROM_CONFIG and `read_only: true`; changing it is 403.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.protocol import Code
from app.providers import admin
from app.providers.config_fields import ProviderConfigError
from app.providers.probe import probe
from app.providers.repository import ProviderRow, key_box
from app.web.auth import require_admin
from app.web.context import web_context
from app.web.errors import refusal_response
from app.web.json_body import object_body

bp = Blueprint("providers_admin", __name__, url_prefix="/api/v1/admin/ai/providers")

_CREATE_KEYS = ("name", "display_name", "provider_type", "is_default", "enabled", "config", "embedding_model",
                "use_for_embeddings")
_UPDATE_KEYS = ("display_name", "enabled", "config", "embedding_model")


@bp.before_request
def _admins_only() -> None:
    require_admin()




@bp.errorhandler(ProviderConfigError)
def _invalid_config(exc: ProviderConfigError):
    return refusal_response(Code.INVALID_PROVIDER_CONFIG, str(exc), field=exc.field)


@bp.errorhandler(admin.ProviderNotFound)
def _not_found(exc):
    return refusal_response(Code.PROVIDER_NOT_FOUND)


@bp.errorhandler(admin.ProviderNameTaken)
def _taken(exc):
    return refusal_response(Code.PROVIDER_EXISTS, str(exc), field="name")


@bp.errorhandler(admin.ReadOnlyProvider)
def _read_only(exc):
    return refusal_response(Code.FORBIDDEN, str(exc))


def provider_object(row: ProviderRow) -> dict[str, Any]:
    """The shape of Fluxbase's SDK `AIProvider` (sdk/src/types.ts)."""
    from_config = row.id == admin.ENV_PROVIDER_ID
    return {
        "id": row.id, "name": row.name, "display_name": row.display_name, "provider_type": row.provider_type,
        "is_default": row.is_default, "enabled": row.enabled, "use_for_embeddings": row.use_for_embeddings,
        "embedding_model": row.embedding_model, "config": admin.masked_config(row),
        "from_config": from_config, "read_only": from_config,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _context():
    context = web_context()
    return context.settings, context.runtime.db


def _box():
    return key_box(web_context().settings.encryption_key)


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ProviderConfigError(key, "must be true or false")
    return value


@bp.get("")
def list_providers():
    settings, db = _context()
    with db.connection() as conn:
        rows = admin.list_providers(conn, settings)
    return {"providers": [provider_object(row) for row in rows], "count": len(rows)}


@bp.post("")
def create():
    body = object_body(_CREATE_KEYS)
    settings, db = _context()
    new = admin.NewProvider(name=body.get("name"), provider_type=body.get("provider_type"),
                            config=body.get("config"), display_name=body.get("display_name"),
                            is_default=_flag(body, "is_default", False), enabled=_flag(body, "enabled", True),
                            embedding_model=body.get("embedding_model"))
    for_embeddings = _flag(body, "use_for_embeddings", False)
    with db.connection() as conn:
        row = admin.create(conn, _box(), new)
        if for_embeddings:
            row = admin.use_for_embeddings(conn, row.id, True)
    return provider_object(row), 201


@bp.get("/<provider_id>")
def get_one(provider_id: str):
    settings, db = _context()
    with db.connection() as conn:
        return provider_object(admin.get_provider(conn, settings, provider_id))


@bp.put("/<provider_id>")
def update(provider_id: str):
    body = object_body(_UPDATE_KEYS)
    changes = admin.ProviderChanges(**{key: body[key] for key in _UPDATE_KEYS if key in body})
    settings, db = _context()
    with db.connection() as conn:
        return provider_object(admin.change(conn, _box(), provider_id, changes))


@bp.delete("/<provider_id>")
def delete(provider_id: str):
    settings, db = _context()
    with db.connection() as conn:
        deleted = admin.remove(conn, provider_id)
    return {"deleted": True, "id": deleted}


@bp.put("/<provider_id>/default")
def make_default(provider_id: str):
    object_body((), empty_ok=True)
    settings, db = _context()
    with db.connection() as conn:
        return provider_object(admin.make_default(conn, provider_id))


@bp.put("/<provider_id>/embedding")
def set_embedding(provider_id: str):
    object_body((), empty_ok=True)
    settings, db = _context()
    with db.connection() as conn:
        return provider_object(admin.use_for_embeddings(conn, provider_id, True))


@bp.delete("/<provider_id>/embedding")
def clear_embedding(provider_id: str):
    settings, db = _context()
    with db.connection() as conn:
        return provider_object(admin.use_for_embeddings(conn, provider_id, False))


@bp.post("/<provider_id>/test")
def test(provider_id: str):
    object_body((), empty_ok=True)
    settings, db = _context()
    with db.connection() as conn:
        row = admin.get_provider(conn, settings, provider_id)
        config = admin.full_config(conn, _box(), settings, row)
    # The request to the provider runs after the connection went back to the pool.
    return probe(settings, row, config, web_context().provider_probes).as_dict()
