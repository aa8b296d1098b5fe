"""Who is calling: the request's Principal, and the admin gate of the admin endpoints.

Credentials follow PROTOCOL.md sections 1 and 5 (`principal_from_headers`). Present but
wrong credentials raise AuthError, which the error handlers turn into 401 AUTH_INVALID.
"""
from __future__ import annotations

from flask import g, request

from app.auth.request import Principal, principal_from_headers
from app.protocol import Code, ProtocolError
from app.web.context import web_context

__all__ = ["current_principal", "presented_credentials", "require_admin"]

_CREDENTIAL_HEADERS = ("Authorization", "X-Service-Key", "apikey")


def current_principal() -> Principal:
    """The caller of this request (computed once per request); anonymous without credentials."""
    if "principal" not in g:
        settings = web_context().settings
        g.principal = principal_from_headers(settings, request.headers, request.args)
    return g.principal


def presented_credentials() -> bool:
    return any(request.headers.get(name) for name in _CREDENTIAL_HEADERS) or bool(request.args.get("token"))


def require_admin() -> Principal:
    """401 AUTH_REQUIRED without credentials, 401 AUTH_INVALID with bad ones, 403 FORBIDDEN for non-admins.

    The anon key is a valid credential that identifies nobody in particular: 403, not 401.
    """
    principal = current_principal()
    if principal.is_admin:
        return principal
    if principal.anonymous and not presented_credentials():
        raise ProtocolError(Code.AUTH_REQUIRED, "Authentication required: send the service key or an admin JWT")
    raise ProtocolError(Code.FORBIDDEN)
