"""Secrets at rest: AES-256-GCM under keys derived from ENCRYPTION_KEY, one key per purpose.

A sealed value is text, `v1.<base64url(nonce || ciphertext+tag)>`, safe in a `text` column. The key
for each purpose (provider keys, system settings, one user's settings) is derived with HKDF-SHA256,
so a value sealed for one purpose cannot be opened as another. The caller also binds each value to
its row (`context`, used as GCM's associated data): a sealed key copied onto another row fails to
open instead of lending its secret to that row.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
_NONCE_BYTES = 12
# Fixed, public: HKDF's salt only needs to be independent of the input key.
_SALT = b"fluxbase-secrets-v1"


class SealError(Exception):
    """A sealed value that does not open: another ENCRYPTION_KEY, another row, or tampered text.
    The message never contains the value."""


class SecretBox:
    def __init__(self, master_key: str, purpose: str):
        if not master_key:
            raise ValueError("ENCRYPTION_KEY is empty")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                   info=f"fluxbase:{purpose}".encode()).derive(master_key.encode())
        self._aead = AESGCM(key)
        self.purpose = purpose

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, context: str) -> str:
        version, _, body = token.partition(".")
        if version != _VERSION or not body:
            raise SealError(f"a {self.purpose} secret is not in a known sealed format")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, ValueError):
            raise SealError(f"a {self.purpose} secret does not open: ENCRYPTION_KEY changed since it was "
                            "stored, or the stored value was altered") from None
