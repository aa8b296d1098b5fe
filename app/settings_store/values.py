"""What a setting may be: its key, its owner, its value or secret, its description; and how a JSON value
reads in a prompt template.

Every check raises `InvalidSetting` naming the field; the web turns it into a 400 and the CLI into one
line. Nothing here echoes a secret's value back in a message.
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from app.text import storable

__all__ = ["InvalidSetting", "KEY", "MAX_DESCRIPTION_CHARS", "MAX_SECRET_CHARS", "MAX_VALUE_BYTES",
           "MIN_SECRET_CHARS", "as_text", "check_description", "check_key", "check_secret", "check_user_id",
           "check_value", "value_type"]

# The same rule as app.settings' CHECK (migration 0001): dots for namespacing (`pelias.endpoint`).
KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
# Settings end up in system prompts: anything larger is a document, not a setting.
MAX_VALUE_BYTES = 65_536
MAX_SECRET_CHARS = 8_192
# Known secret values are scrubbed from everything a turn produces; a shorter one would be found in
# ordinary text ("abc" in every alphabet) and garble it without protecting anything. Scrubbing also
# tells whoever can make a value appear that it matched: a short or guessable secret can be found by
# trying candidates (SQL can print thousands at once), so secrets must be long random keys.
MIN_SECRET_CHARS = 8
MAX_DESCRIPTION_CHARS = 1_000


class InvalidSetting(ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def check_key(key: Any, field: str = "key") -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        shown = repr(key[:60]) if isinstance(key, str) else type(key).__name__
        raise InvalidSetting(field, f"{shown} is not a setting key: 1-200 characters, letters, digits, '.', '_' "
                                    "and '-', starting with a letter or digit (e.g. pelias.endpoint)")
    return key


def check_user_id(value: Any, field: str = "user_id") -> str:
    """A user id in its canonical form (settings are keyed by the JWT `sub`, a UUID)."""
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else _not_uuid(field, value)
    except ValueError:
        return _not_uuid(field, value)


def _not_uuid(field: str, value: Any) -> str:
    shown = repr(value[:60]) if isinstance(value, str) else type(value).__name__
    raise InvalidSetting(field, f"{shown} is not a user id (a UUID such as a11ce000-0000-4000-8000-000000000001)")


def check_value(value: Any, field: str = "value") -> Any:
    """A plain setting's value: any JSON value but null, every string storable, at most MAX_VALUE_BYTES."""
    if value is None:
        raise InvalidSetting(field, "is required (any JSON value but null)")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise InvalidSetting(field, "must be a JSON value (no NaN or Infinity, not nested too deeply)") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise InvalidSetting(field, f"is larger than {MAX_VALUE_BYTES} bytes as JSON")
    try:
        return _storable(value)
    except RecursionError:  # json.dumps nests deeper than this walk can
        raise InvalidSetting(field, "must be a JSON value not nested too deeply") from None


def check_secret(value: Any, field: str = "value") -> str:
    if not isinstance(value, str):
        raise InvalidSetting(field, "a secret's value must be a string")
    if not MIN_SECRET_CHARS <= len(value) <= MAX_SECRET_CHARS:
        raise InvalidSetting(field, f"a secret's value must be {MIN_SECRET_CHARS} to {MAX_SECRET_CHARS} characters "
                                    f"(got {len(value)})")
    if storable(value) != value or not value.isprintable() or value != value.strip():
        # Secrets go into HTTP headers and query strings: a line break there would add a header, and
        # control characters or outer spaces are refused by the HTTP library when it is too late to say why.
        raise InvalidSetting(field, "a secret's value cannot contain line breaks, control characters, NUL, "
                                    "unpaired surrogates or leading/trailing spaces")
    return value


def check_description(value: Any, field: str = "description") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSetting(field, "must be a string")
    text = storable(value).strip()
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise InvalidSetting(field, f"must be at most {MAX_DESCRIPTION_CHARS} characters")
    return text or None


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def as_text(value: Any) -> str:
    """How a JSON value reads where a template names it.

    A string is itself; a number or boolean its JSON text (`42`, `true`); an object whose only key is
    `value` reads as that member (Fluxbase's SDK wraps plain values that way); any other object or
    array is its JSON text; null reads as nothing."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"value"}:
        return as_text(value["value"])
    return json.dumps(value, ensure_ascii=False)


def value_type(value: Any) -> str:
    """Fluxbase's CustomSetting.value_type, read off the value (nothing else decides it here)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "json"
