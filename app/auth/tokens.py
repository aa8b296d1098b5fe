"""HS256 JWTs signed with the server's secret, and the caller they identify."""
from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt

ROLES = ("anon", "authenticated", "service_role")
# PROTOCOL.md section 5 also accepts JWTs with role `admin` on admin endpoints.
VERIFIED_ROLES = (*ROLES, "admin")
_LEEWAY_SECONDS = 10
_MAX_EXP = 2**53 - 1


class AuthError(Exception):
    """Credentials were presented but are invalid or expired."""


@dataclass(frozen=True)
class Principal:
    role: str                 # anon | authenticated | service_role
    user_id: str | None       # the JWT `sub` (a UUID) for authenticated users
    claims: dict
    via_service_key: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role in ("service_role", "admin") or self.via_service_key

    @property
    def anonymous(self) -> bool:
        return self.role == "anon"

    @property
    def expires_at(self) -> int | None:
        """The token's `exp` (Unix seconds); None for callers without a token (service key, no credentials)."""
        exp = self.claims.get("exp") if not self.via_service_key else None
        return int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None

    def expired(self, now: float) -> bool:
        # The same leeway as the check at the upgrade, so a token accepted there is not refused at once.
        return self.expires_at is not None and now >= self.expires_at + _LEEWAY_SECONDS


ANONYMOUS = Principal(role="anon", user_id=None, claims={"role": "anon"})


def mint(secret: str, *, role: str, user_id: str | None = None, ttl_seconds: int = 3600,
         extra: dict | None = None) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "authenticated":
        if user_id is None:
            raise ValueError("an authenticated token needs a user id")
        uuid.UUID(user_id)
    now = int(time.time())
    claims = {"role": role, "iat": now, "exp": now + ttl_seconds, **(extra or {})}
    if user_id is not None:
        claims["sub"] = user_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "role"]},
                            leeway=_LEEWAY_SECONDS)
    except jwt.ExpiredSignatureError:
        raise AuthError("token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    exp = claims.get("exp")
    # PyJWT also takes a numeric string; a client must be able to read exp back exactly (JSON numbers).
    if not isinstance(exp, (int, float)) or isinstance(exp, bool) or not 0 < exp <= _MAX_EXP:
        raise AuthError("invalid token: exp must be a number of seconds since the epoch")
    role = claims.get("role")
    if role not in VERIFIED_ROLES:
        raise AuthError("invalid token: unknown role")
    sub = claims.get("sub")
    if role in ("authenticated", "admin"):
        try:
            sub = str(uuid.UUID(str(sub)))
        except ValueError:
            raise AuthError("invalid token: sub must be a UUID") from None
    elif sub is not None:
        try:
            sub = str(uuid.UUID(str(sub)))
        except ValueError:
            sub = None
    return Principal(role=role, user_id=sub, claims=claims)


def service_principal() -> Principal:
    return Principal(role="service_role", user_id=None, claims={"role": "service_role"}, via_service_key=True)


def service_key_matches(expected: str, presented: str) -> bool:
    """Constant time in the presented value, its length included (compare_digest alone returns at
    once on a length mismatch), so timing tells a caller nothing about the key."""
    return hmac.compare_digest(hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest(),
                               hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest())
