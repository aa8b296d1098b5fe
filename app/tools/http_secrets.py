"""Secret placeholders in one `http_get` request: filled in at the last moment, scrubbed from everything after.

The model only ever sees `{{secret:KEY}}`. `http_get` asks for a value only once the request's
host has passed the allow-list and address checks, through the turn's resolver
(`ToolContext.secrets`), and remembers each value it used so that any echo of it (the server
repeating the query string, an error naming the URL) goes back to the model and the client as
the placeholder again.
"""
from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from app.net.urls import PLACEHOLDER
from app.secrets.scrub import echoes
from app.tools.base import ToolError

__all__ = ["SecretFill", "has_placeholder"]


def has_placeholder(text: str) -> bool:
    return PLACEHOLDER.search(text) is not None


class SecretFill:
    def __init__(self, resolve: Callable[[str], str | None] | None):
        self._resolve = resolve
        self._used: dict[str, str] = {}

    def value(self, key: str) -> str:
        if key not in self._used:
            value = self._resolve(key) if self._resolve is not None else None
            if value is None:
                raise ToolError(f"the secret {{{{secret:{key}}}}} is not set for this chatbot; "
                                f"no request was sent (ask an administrator to set {key!r})")
            self._used[key] = value
        return self._used[key]

    def in_text(self, text: str) -> str:
        """Placeholders replaced by their values as they are (header values, param values before encoding)."""
        return PLACEHOLDER.sub(lambda match: self.value(match.group(1)), text)

    def in_query(self, query: str) -> str:
        """Placeholders in an already encoded query replaced by their percent-encoded values."""
        return PLACEHOLDER.sub(lambda match: quote(self.value(match.group(1)), safe=""), query)

    def scrub(self, text: str) -> str:
        """`text` with every used value (as sent, percent-encoded, or JSON-escaped) put back as its placeholder."""
        # Longest first, so a value containing another is replaced whole.
        for key, value in sorted(self._used.items(), key=lambda item: -len(item[1])):
            if not value:
                continue
            placeholder = f"{{{{secret:{key}}}}}"
            for form in sorted(echoes(value), key=len, reverse=True):
                text = text.replace(form, placeholder)
        return text
