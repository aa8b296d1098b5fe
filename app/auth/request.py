"""Turn an HTTP request's headers into a Principal, per PROTOCOL.md section 1 and 5."""
from __future__ import annotations

from collections.abc import Mapping

from app.auth.tokens import (
    ANONYMOUS,
    AuthError,
    Principal,
    service_key_matches,
    service_principal,
    verify,
)
from config import Settings


def principal_from_headers(settings: Settings, headers: Mapping[str, str], query: Mapping[str, str]) -> Principal:
    """First match wins: service key, then a bearer JWT (header or ?token=), then an apikey JWT, else anonymous.

    `Authorization: Bearer <service key>` counts as the service key: Fluxbase's SDK sends the key it
    was created with as both `apikey` and a bearer token, so a client made with the service key
    would otherwise be refused before its `apikey` is looked at. Only the header form: a key in
    `?token=` would end up in access logs.

    Raises AuthError for credentials that are present but wrong; absence is not an error.
    """
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    service_key = headers.get("X-Service-Key")
    if service_key is None and scheme.lower() == "servicekey":
        service_key = value
    if service_key is not None:
        if service_key_matches(settings.service_key, service_key):
            return service_principal()
        raise AuthError("invalid service key")
    if scheme.lower() == "bearer" and value and service_key_matches(settings.service_key, value):
        return service_principal()
    token = value if scheme.lower() == "bearer" and value else query.get("token")
    if token:
        return verify(settings.jwt_secret, token)
    apikey = headers.get("apikey")
    if apikey:
        if service_key_matches(settings.service_key, apikey):
            return service_principal()
        return verify(settings.jwt_secret, apikey)
    if authorization:
        raise AuthError("unsupported Authorization scheme")
    return ANONYMOUS


__all__ = ["AuthError", "Principal", "principal_from_headers"]
