"""CORS for the REST API: the same origins the WebSocket accepts, preflights answered here."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request

from app.web.context import web_context

ALLOWED_HEADERS = "Authorization, Content-Type, apikey, X-Service-Key"
ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"


def origin_allowed(settings, origin: str | None, host: str) -> bool:
    """No Origin (not a browser), same origin, a configured origin, or localhost in development."""
    if not origin:
        return True
    if origin in settings.allowed_origins or "*" in settings.allowed_origins:
        return True
    try:
        parts = urlsplit(origin)
        hostname = parts.hostname
    except ValueError:  # `http://[`: anyone can send it, and it is simply not an allowed origin
        return False
    if parts.netloc and parts.netloc == host:
        return True
    return not settings.production and hostname in ("localhost", "127.0.0.1", "::1")


def init_app(app: Flask) -> None:
    settings = web_context(app).settings

    @app.before_request
    def _preflight():
        if request.method == "OPTIONS" and request.path.startswith("/api/") and request.headers.get("Origin"):
            return "", 204
        return None

    @app.after_request
    def _headers(response):
        origin = request.headers.get("Origin")
        if origin and request.path.startswith("/api/") and origin_allowed(settings, origin, request.host):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Max-Age"] = "600"
        return response
