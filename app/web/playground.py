"""The browser playground: `/` leads to it, `/playground/` is the chat page, `/playground/admin` the admin
view. Its pages are static files (app/web/playground_ui/) that talk to the same REST and WebSocket API as
any client, through the JavaScript SDK (sdk/js/src), served from here so nothing comes from a CDN.

In development a demo sign-in mints a short-lived token for the demo users; in production that route
does not exist, and a person pastes a JWT (or, on the admin view, the service key) instead.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, jsonify, redirect, request, send_from_directory

from app.auth.tokens import mint
from app.demo.loader import ALICE, BOB
from app.protocol import Code, ProtocolError
from app.sql.pretty import MAX_PRETTY_CHARS, pretty_sql
from app.web.auth import current_principal
from app.web.context import web_context

bp = Blueprint("playground", __name__)

UI_DIR = Path(__file__).with_name("playground_ui")
ASSETS_DIR = UI_DIR / "ui"
SDK_DIR = Path(__file__).resolve().parents[2] / "sdk" / "js" / "src"
DEMO_USERS = {"alice": ALICE, "bob": BOB}
DEMO_TOKEN_SECONDS = 8 * 3600

# Scripts only from this origin and no inline script at all: whatever the model writes is rendered as
# text nodes, and this is the second wall should a rendering bug ever let markup through.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


@bp.after_request
def _page_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@bp.get("/")
def root():
    return redirect("/playground/", code=302)


@bp.get("/playground")
def playground_no_slash():
    return redirect("/playground/", code=301)


@bp.get("/playground/")
def chat_page():
    return _static(UI_DIR, "index.html")


@bp.get("/playground/admin")
def admin_page():
    return _static(UI_DIR, "admin.html")


@bp.get("/playground/ui/<path:name>")
def ui_file(name: str):
    return _static(ASSETS_DIR, name)


@bp.get("/playground/sdk/<path:name>")
def sdk_file(name: str):
    if not name.endswith(".js"):
        raise ProtocolError(Code.NOT_FOUND)
    return _static(SDK_DIR, name)


@bp.get("/playground/api/config")
def page_config():
    """What the page needs before anyone signs in: whether the demo sign-in exists, and who it offers."""
    development = web_context().settings.env == "development"
    return jsonify({"environment": web_context().settings.env,
                    "demo_users": sorted(DEMO_USERS) if development else []})


@bp.post("/playground/api/demo-session")
def demo_session():
    settings = web_context().settings
    if settings.env != "development":
        raise ProtocolError(Code.NOT_FOUND, "The demo sign-in exists only in development; paste a JWT instead")
    body = request.get_json(silent=True)
    name = body.get("user") if isinstance(body, dict) else None
    if not isinstance(name, str) or name not in DEMO_USERS:  # a list or object is unhashable: not a 500
        raise ProtocolError(Code.INVALID_REQUEST, f"user must be one of {', '.join(sorted(DEMO_USERS))}")
    user_id = DEMO_USERS[name]
    token = mint(settings.jwt_secret, role="authenticated", user_id=user_id, ttl_seconds=DEMO_TOKEN_SECONDS)
    return jsonify({"user": name, "user_id": user_id, "token": token, "expires_in": DEMO_TOKEN_SECONDS})


@bp.post("/playground/api/format-sql")
def format_sql():
    """SQL laid out for reading (app/sql/pretty.py), for the result panels: the page shows this beside
    the exact statement that ran, which `query_result.query` still carries.

    Only for a signed-in caller (a user JWT or the service key): laying out SQL costs up to about a
    second of CPU, which an anonymous client could otherwise spend at will in a web worker whose
    greenlets it shares with every chat."""
    if current_principal().anonymous:
        raise ProtocolError(Code.AUTH_REQUIRED, "Sign in first: send `Authorization: Bearer <token>`")
    body = request.get_json(silent=True)
    sql = body.get("sql") if isinstance(body, dict) else None
    if not isinstance(sql, str):
        raise ProtocolError(Code.INVALID_REQUEST, 'the request body must be a JSON object: {"sql": "..."}')
    if len(sql) > MAX_PRETTY_CHARS:
        return jsonify({"sql_pretty": sql, "formatted": False})
    return jsonify({"sql_pretty": pretty_sql(sql), "formatted": True})


def _static(directory: Path, name: str):
    # send_from_directory refuses paths that leave the directory (`..`, absolute paths) with a 404.
    response = send_from_directory(directory, name, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response
