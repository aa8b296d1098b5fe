"""Admin chatbot endpoints (PROTOCOL.md section 5); every route needs an admin caller.

    GET    /api/v1/admin/ai/chatbots?namespace=      {chatbots: [admin object], count}
    GET    /api/v1/admin/ai/chatbots/<id>            admin object
    PUT    /api/v1/admin/ai/chatbots/<id>            {enabled?, config?, reset_config?} -> admin object
    DELETE /api/v1/admin/ai/chatbots/<id>            204
    PUT    /api/v1/admin/ai/chatbots/<id>/toggle     {enabled} -> admin object
    POST   /api/v1/admin/ai/chatbots/sync            {namespace?, chatbots?, options?} -> sync report

An id that is not a UUID is treated like an unknown id: 404 CHATBOT_NOT_FOUND.
Request bodies are checked strictly (unknown keys, wrong types: 400) before anything is written.
The shapes are the ones Fluxbase's SDK reads (admin-ai.ts); docs/chatbots.md section 7 lists them.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, request

from app.chatbots import repository as repo
from app.chatbots.annotations import ConfigError, validate_config
from app.chatbots.kb_warnings import knowledge_base_warnings
from app.chatbots.policy import server_policy
from app.chatbots.spec import is_valid_name
from app.chatbots.spec_payload import SPEC_ANNOTATIONS, SPEC_IGNORED, spec_values
from app.chatbots.sync_service import sync_directory, sync_payload
from app.protocol import Code, ProtocolError
from app.tools.registry import default_registry
from app.web.auth import require_admin
from app.web.chatbot_json import admin_object
from app.web.context import web_context

bp = Blueprint("chatbots_admin", __name__, url_prefix="/api/v1/admin/ai/chatbots")


@bp.before_request
def _admins_only() -> None:
    require_admin()


def _settings():
    return web_context().settings


def _db():
    return web_context().runtime.db.connection()


def _objects(rows: Iterable[repo.ChatbotRow]) -> list[dict[str, Any]]:
    rows = list(rows)
    policy, registry = server_policy(_settings()), default_registry()
    objects = [admin_object(row, policy, registry) for row in rows]
    # Unknown knowledge bases, from the bases that exist now (like the tool warnings, computed when read).
    linked = [(obj, row) for obj, row in zip(objects, rows) if row.config.get("knowledge_bases")]
    if linked:
        with _db() as conn:
            for obj, row in linked:
                obj["warnings"].extend(knowledge_base_warnings(conn, row.namespace, row.config))
    return objects


def _object(row: repo.ChatbotRow) -> dict[str, Any]:
    return _objects([row])[0]


def _not_found() -> ProtocolError:
    return ProtocolError(Code.CHATBOT_NOT_FOUND, "Chatbot not found")


def _invalid(message: str) -> ProtocolError:
    return ProtocolError(Code.INVALID_REQUEST, message)


def _config_error(exc: ConfigError) -> ProtocolError:
    return ProtocolError(Code.INVALID_CONFIG, f"config.{exc.key}: {exc.message}", key=exc.key)


def _body(*, empty_ok: bool = False) -> dict[str, Any]:
    if empty_ok and not request.get_data(cache=True).strip():
        return {}
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:  # `silent` covers malformed JSON, not JSON nested past the parser's depth
        raise _invalid("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    return body


def _only(body: dict[str, Any], allowed: Iterable[str], where: str = "body") -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _invalid(f"unknown key(s) in {where}: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _bool(body: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise _invalid(f"{where}{key} must be true or false")
    return value


@bp.get("")
def list_admin():
    namespace = request.args.get("namespace") or None
    if namespace is not None and not is_valid_name(namespace):
        raise _invalid(f"invalid namespace {str(namespace)[:80]!r}")
    with _db() as conn:
        rows = repo.list_chatbots(conn, namespace=namespace)
    return {"chatbots": _objects(rows), "count": len(rows)}


@bp.get("/<chatbot_id>")
def get_one(chatbot_id: str):
    with _db() as conn:
        row = repo.get(conn, chatbot_id)
    if row is None:
        raise _not_found()
    return _object(row)


@bp.put("/<chatbot_id>")
def update(chatbot_id: str):
    body = _body()
    _only(body, ("enabled", "config", "reset_config"))
    enabled = _bool(body, "enabled")
    reset = bool(_bool(body, "reset_config"))
    changes: dict[str, Any] = {}
    if "config" in body:
        try:
            changes = validate_config(body["config"])
        except ConfigError as exc:
            raise _config_error(exc) from None
    # Validation is done; from here a failure rolls the whole change back (the pool connection does).
    with _db() as conn:
        row = repo.get(conn, chatbot_id, for_update=True)
        if row is None:
            raise _not_found()
        if changes or reset:
            try:
                row = repo.update_config(conn, row, changes, registry=default_registry(), reset=reset)
            except ConfigError as exc:
                raise _config_error(exc) from None
        if enabled is not None:
            row = repo.set_enabled(conn, row.id, enabled)
    return _object(row)


@bp.delete("/<chatbot_id>")
def delete(chatbot_id: str):
    with _db() as conn:
        if not repo.delete(conn, chatbot_id):
            raise _not_found()
    return Response(status=204)


@bp.put("/<chatbot_id>/toggle")
def toggle(chatbot_id: str):
    body = _body()
    _only(body, ("enabled",))
    if not isinstance(body.get("enabled"), bool):
        raise _invalid("enabled (true or false) is required")
    with _db() as conn:
        row = repo.set_enabled(conn, chatbot_id, body["enabled"])
    if row is None:
        raise _not_found()
    return _object(row)


@bp.post("/sync")
def sync():
    body = _body(empty_ok=True)
    _only(body, ("namespace", "chatbots", "options"))
    namespace = body.get("namespace")
    if namespace is not None and not is_valid_name(namespace):
        raise _invalid(f"invalid namespace {str(namespace)[:80]!r}: use lower-case letters, digits, '-' and '_'")
    options = {} if body.get("options") is None else body["options"]
    if not isinstance(options, dict):
        raise _invalid("options must be an object")
    _only(options, ("delete_missing", "dry_run"), "options")
    delete_missing = bool(_bool(options, "delete_missing", "options."))
    dry_run = bool(_bool(options, "dry_run", "options."))
    chatbots = _payload_chatbots(body.get("chatbots"))
    with _db() as conn:
        if chatbots:
            report = sync_payload(_settings(), namespace=namespace or "default", chatbots=chatbots,
                                  delete_missing=delete_missing, dry_run=dry_run, conn=conn)
        else:
            # PROTOCOL.md: an empty or missing list syncs from the chatbots directory.
            report = sync_directory(_settings(), namespace=namespace, delete_missing=delete_missing,
                                    dry_run=dry_run, conn=conn)
    # `message` first, as Fluxbase's SDK types it (SyncChatbotsResult); the rest is the report's own shape.
    return {"message": report.message, **report.to_dict()}


_ITEM_KEYS = ("name", "code", *SPEC_ANNOTATIONS, *SPEC_IGNORED)


def _payload_chatbots(value: Any) -> list[dict[str, Any]]:
    """The payload's chatbots, each `{name, code}` plus any key of the SDK's ChatbotSpec.

    A spec value that would not pass as its annotation is a 400 here (INVALID_CONFIG, `key`
    naming it), so a typo in one field never half-syncs a payload.
    """
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid("chatbots must be a list of {name, code}")
    for index, item in enumerate(value):
        where = f"chatbots[{index}]"
        if not isinstance(item, dict):
            raise _invalid(f"{where} must be an object {{name, code}}")
        _only(item, _ITEM_KEYS, where)
        for key in ("name", "code"):
            if not isinstance(item.get(key), str):
                raise _invalid(f"{where}.{key} must be a string")
        for key, kind in SPEC_IGNORED.items():
            if item.get(key) is not None and not isinstance(item[key], kind):
                raise _invalid(f"{where}.{key} must be {'true or false' if kind is bool else 'a string'}")
        try:
            spec_values(item)
        except ConfigError as exc:
            raise ProtocolError(Code.INVALID_CONFIG, f"{where}.{exc.key}: {exc.message}", key=exc.key,
                                chatbot=item["name"]) from None
    return value
