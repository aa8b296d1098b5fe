"""One JSON error shape for every HTTP error: {"error": "...", "code": "..."}."""
from __future__ import annotations

import logging

from flask import Flask, Request, jsonify
from werkzeug.exceptions import BadRequest, HTTPException

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


# Werkzeug's own refusals, in the protocol's codes (app/protocol.py), so clients see one vocabulary.
_HTTP_CODES = {404: Code.NOT_FOUND, 405: Code.METHOD_NOT_ALLOWED, 413: Code.MESSAGE_TOO_LARGE}
_HTTP_TEXTS = {404: "Not found", 405: "This method is not allowed on this path",
               413: "The request body is larger than 8 MiB"}


def refusal_response(code: Code, message: str | None = None, **extra):
    """The JSON answer for a refusal, for blueprint error handlers: an exception raised inside an error
    handler is not handled again (it would be a 500), so they answer instead of raising."""
    refusal = ProtocolError(code, message, **extra)
    return error_response(refusal.http_status, refusal.code, refusal.message, **refusal.extra)


class _Request(Request):
    """A JSON body nested past the parser's depth is a bad body, like malformed JSON.

    The json module raises RecursionError for it, which Flask's get_json does not catch (it handles
    ValueError only), so a route that forgot its own guard answered 500 INTERNAL_ERROR."""

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True):
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError:
            if silent:
                return None
            raise BadRequest("The request body is nested too deeply") from None


def init_app(app: Flask) -> None:
    app.request_class = _Request

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
        status = exc.code or 500
        code = _HTTP_CODES.get(status, Code.INVALID_REQUEST if 400 <= status < 500 else Code.INTERNAL_ERROR)
        return error_response(status, code, _HTTP_TEXTS.get(status, exc.description or exc.name))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_unavailable(exc):
            log.warning("request failed, a backing service is down: %s: %s", type(exc).__name__, exc)
            return error_response(503, Code.SERVICE_UNAVAILABLE, protocol.text_of(Code.SERVICE_UNAVAILABLE),
                                  retry_after=protocol.SERVICE_RETRY_AFTER)
        log.exception("unhandled error")
        return error_response(500, Code.INTERNAL_ERROR, protocol.text_of(Code.INTERNAL_ERROR))
