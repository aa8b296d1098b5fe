"""Validating a provider type's `config`: each type declares its fields, one function checks them.

Values arrive as JSON strings, numbers or booleans (Fluxbase's SDK turns every value into a string
before sending); they are stored as strings. An empty string or null means "not set". Error
messages name the field and never repeat its value: the value may be a key pasted in the wrong field.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

Kind = Literal["url", "secret", "model", "deployment", "api_version", "identifier"]

_MAX_TEXT = 2048
# Field names are lower-case words; a key pasted as a name has digits (hex, base62) and is never repeated.
_FIELD_NAME = re.compile(r"[a-z][a-z_]{0,31}")
_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "secret": (re.compile(r"[\x21-\x7e]{1,512}"), "must be 1-512 printable characters without spaces"),
    "model": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}"),
              "must be a model name (letters, digits and . _ : / @ + -, at most 200)"),
    "deployment": (re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"),
                   "must be an Azure deployment name (letters, digits, . _ -, at most 64)"),
    "api_version": (re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?"), "must look like 2024-02-15-preview"),
    "identifier": (re.compile(r"[A-Za-z0-9_-]{1,128}"), "must be letters, digits, _ or - (at most 128)"),
}


@dataclass(frozen=True)
class ConfigField:
    name: str
    kind: Kind
    required: bool = False
    default: str | None = None


class ProviderConfigError(ValueError):
    """A config that a provider type cannot use; `field` is the offending key (`config.<name>`)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        # No field is a flag: true or false in one is a mistake, not a value.
        raise ProviderConfigError(key, "must be a string, not true or false")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ProviderConfigError(key, "must be a string")
        return str(value)
    if not isinstance(value, str):
        raise ProviderConfigError(key, "must be a string")
    value = value.strip()
    return value or None


def _check_url(key: str, value: str) -> str:
    if len(value) > _MAX_TEXT or not value.isascii() or any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in value):
        # Non-ASCII hosts go in their IDNA form (xn--...); this also keeps out text PostgreSQL cannot store.
        raise ProviderConfigError(key, "must be an ASCII URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ProviderConfigError(key, "is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderConfigError(key, "must be an http or https URL with a host")
    if parts.username or parts.password:
        # A key in the URL would be shown and logged with it: it belongs in api_key.
        raise ProviderConfigError(key, "must not carry credentials; put the key in config.api_key")
    if parts.query or parts.fragment:
        raise ProviderConfigError(key, "must not have a query or fragment")
    return value.rstrip("/")


def check_known(fields: tuple[ConfigField, ...], keys) -> None:
    """ProviderConfigError for keys no field declares, whatever their values (null included)."""
    names = [field.name for field in fields]
    unknown = sorted(str(key) for key in keys if key not in names)
    if not unknown:
        return
    # Named only when it looks like a field name: a key pasted as a field's name is not repeated.
    named = [name for name in unknown if _FIELD_NAME.fullmatch(name)]
    shown = ", ".join(named[:5]) + (" and others" if len(named) < len(unknown) and named else "") \
        if named else "a field that is not a field name"
    raise ProviderConfigError(f"config.{named[0]}" if named else "config",
                              f"unknown field(s): {shown} (allowed: {', '.join(names)})")


def validate_fields(fields: tuple[ConfigField, ...], raw: Any) -> dict[str, str]:
    """The validated config: known fields only, defaults filled in, every value a checked string."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ProviderConfigError("config", "must be an object")
    check_known(fields, raw)
    config: dict[str, str] = {}
    for field in fields:
        key = f"config.{field.name}"
        value = _text(key, raw.get(field.name))
        if value is None:
            value = field.default
        if value is None:
            if field.required:
                raise ProviderConfigError(key, "is required")
            continue
        if field.kind == "url":
            value = _check_url(key, value)
        else:
            pattern, message = _PATTERNS[field.kind]
            if not pattern.fullmatch(value):
                raise ProviderConfigError(key, message)
        config[field.name] = value
    return config
