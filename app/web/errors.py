"""One JSON error shape for every HTTP error: {"error": "...", "code": "..."}."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from app import protocol
from app.auth.tokens import AuthError
from app.protocol import Code, ProtocolError
from app.unavailable import is_unavailable

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, **extra):
    response = jsonify({"error": message, "code": str(code), **extra})
    response.status_code = status
    if "retry_after" in extra:
        response.headers["Retry-After"] = str(int(extra["retry_after"]))
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ProtocolError)
    def _protocol_error(exc: ProtocolError):
        extra = dict(exc.extra)
        if exc.retry_after is not None:
            extra["retry_after"] = exc.retry_after
        return error_response(exc.http_status, exc.code, exc.message, **extra)

    @app.errorhandler(AuthError)
    def _auth_error(exc: AuthError):
        return error_response(401, Code.AUTH_INVALID, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = (exc.name or "error").upper().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_unavailable(exc):
            log.warning("request failed, a backing service is down: %s: %s", type(exc).__name__, exc)
            return error_response(503, Code.SERVICE_UNAVAILABLE, protocol.text_of(Code.SERVICE_UNAVAILABLE),
                                  retry_after=protocol.SERVICE_RETRY_AFTER)
        log.exception("unhandled error")
        return error_response(500, Code.INTERNAL_ERROR, protocol.text_of(Code.INTERNAL_ERROR))
