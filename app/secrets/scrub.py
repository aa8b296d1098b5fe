"""Known secret values taken out of text: each is replaced by its placeholder, `{{secret:KEY}}`.

A `Scrubber` holds the values one turn knows (the secrets its chatbot may use); an empty one costs
a truth test. Each value is looked for in the spellings servers echo values in (`echoes`, shared
with http_get's own scrubbing in app/tools/http_secrets.py), longest first, so a value that
contains another is replaced whole.

Logs: `install_log_scrubbing()` wraps the log record factory, and while a turn `holds` its values
every record made in its context (its greenlet, or thread) is scrubbed as it is created, whichever
handler writes it later (Celery installs its own handlers after start-up; a filter on the handlers
of the moment would miss them). Other turns' lines are left alone: a user's value must not be able
to erase words from everyone's logs. With nothing held a record costs one check.
"""
from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["NO_SECRETS", "Scrubber", "echoes", "held", "install_log_scrubbing", "placeholder"]


def placeholder(key: str) -> str:
    return f"{{{{secret:{key}}}}}"


# What encodeURI leaves as it is: a server building links with it echoes a value this way.
_URI_SAFE = ";,/?:@&=+$-_.!~*'()#"
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def echoes(value: str) -> set[str]:
    """The spellings a value is likely to come back in: as sent, percent-encoded (either case of hex,
    as a component, a query or encodeURI), JSON-escaped (Python's, Go's, PHP's) and HTML-escaped. A
    value echoed transformed otherwise (base64, upper case, cut) is not recognised."""
    encoded = {quote(value, safe=""), quote(value), quote_plus(value), quote(value, safe=_URI_SAFE)}
    encoded |= {_PERCENT.sub(lambda m: m.group().lower(), form) for form in encoded}
    as_json = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    go_json = {form.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") for form in as_json}
    php_json = {form.replace("/", "\\/") for form in as_json | go_json}
    escaped = {html.escape(value), html.escape(value, quote=False)}
    # Jinja/markupsafe and Go write quotes as &#39; and &#34;; PHP's urlencode and Java's URLEncoder
    # also encode ~ and *.
    escaped |= {form.replace("&#x27;", "&#39;").replace("&quot;", "&#34;") for form in escaped}
    encoded |= {form.replace("~", "%7E").replace("*", "%2A") for form in encoded}
    return {value} | escaped | encoded | as_json | go_json | php_json


class Scrubber:
    def __init__(self, secrets: Mapping[str, Iterable[str]] | None = None):
        """`secrets`: key -> the values it may have (a user's and the system's)."""
        pairs = {(form, placeholder(key)) for key, values in (secrets or {}).items() for value in values if value
                 for form in echoes(value)}
        # Longest first; among equals, a stable order, so the same text always scrubs the same way.
        self._pairs = sorted(pairs, key=lambda pair: (-len(pair[0]), pair))
        self.values = frozenset(value for values in (secrets or {}).values() for value in values if value)
        # Only values that are a number's own spelling ("73194628", not "0042" or "1e3").
        self._numbers = {value: placeholder(key) for key, values in (secrets or {}).items() for value in values
                         if value and _as_number(value) is not None and _number_text(_as_number(value)) == value}

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def merged(self, other: Scrubber) -> Scrubber:
        both = Scrubber()
        both._pairs = sorted(set(self._pairs) | set(other._pairs), key=lambda pair: (-len(pair[0]), pair))
        both.values = self.values | other.values
        both._numbers = {**self._numbers, **other._numbers}
        return both

    def text(self, text: str) -> str:
        if not self._pairs or not text:
            return text
        for form, replacement in self._pairs:
            if form in text:
                text = text.replace(form, replacement)
        return text

    def found_in(self, text: str) -> bool:
        return any(form in text for form, _ in self._pairs)

    def value(self, value: Any) -> Any:
        """Every string in a JSON-like value scrubbed (keys included); the same object when nothing matched."""
        if not self._pairs:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and self._numbers:
            # A secret of digits comes back from SQL as a number: the event would carry it unscrubbed.
            return self._numbers.get(_number_text(value), value)
        return value

    def event(self, event: dict) -> dict:
        """A client event, scrubbed only when a value is in it (one serialisation to find out)."""
        if not self._pairs:
            return event
        try:
            serialised = json.dumps(event, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return self.value(event)
        return self.value(event) if self.found_in(serialised) else event


def _as_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
        return number if number == number and abs(number) != float("inf") else None


def _number_text(number: int | float | None) -> str:
    # 73194628, 73194628.0 and 7.3194628e7 are one number.
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return repr(number)


NO_SECRETS = Scrubber()


# -- logs --------------------------------------------------------------------------------------------

# The values held by the turn (or request) running in this context: a greenlet under gevent, a
# thread otherwise. Per context, not per process: a user's secret may be any word ("refused", an
# address), and scrubbing it from every line the process logs would let one user erase what
# everyone's turns log while theirs runs.
_HELD: ContextVar[Scrubber] = ContextVar("fluxbase_held_secrets", default=NO_SECRETS)
_installed = False


@contextmanager
def held(scrubber: Scrubber) -> Iterator[None]:
    """While inside, every log record made in this context (and contexts copied from it) has the
    scrubber's values taken out."""
    if not scrubber:
        yield
        return
    current = _HELD.get()
    token = _HELD.set(current.merged(scrubber) if current else scrubber)
    try:
        yield
    finally:
        _HELD.reset(token)


def install_log_scrubbing() -> None:
    """Once per process, from its logging set-up (app/factory.py configure_logging)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        scrubber = _HELD.get()
        if scrubber:
            _scrub_record(record, scrubber)
        return record

    logging.setLogRecordFactory(scrubbed_record)
    _installed = True


def _scrub_record(record: logging.LogRecord, scrubber: Scrubber) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it itself when the record is formatted
        return
    record.msg, record.args = scrubber.text(message), None
    if record.exc_info and not record.exc_text:
        # Formatted now, so a handler uses this text instead of formatting the exception again.
        record.exc_text = scrubber.text(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = scrubber.text(record.stack_info)
