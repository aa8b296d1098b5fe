"""Known secret values taken out of text: each is replaced by its placeholder, `{{secret:KEY}}`.

A `Scrubber` holds the values one turn knows (the secrets its chatbot may use); an empty one costs
a truth test. Each value is looked for in the spellings servers echo values in (`echoes`, shared
with http_get's own scrubbing in app/tools/http_secrets.py), longest first, so a value that
contains another is replaced whole.

Logs are covered process-wide: `install_log_scrubbing()` wraps the log record factory, and while a
turn `holds` its values every record made in the process is scrubbed as it is created, whichever
handler writes it later (Celery installs its own handlers after start-up; a filter on the handlers
of the moment would miss them). With nothing held a record costs one check.
"""
from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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
    return {value, html.escape(value), html.escape(value, quote=False)} | encoded | as_json | go_json | php_json


class Scrubber:
    def __init__(self, secrets: Mapping[str, Iterable[str]] | None = None):
        """`secrets`: key -> the values it may have (a user's and the system's)."""
        pairs = {(form, placeholder(key)) for key, values in (secrets or {}).items() for value in values if value
                 for form in echoes(value)}
        # Longest first; among equals, a stable order, so the same text always scrubs the same way.
        self._pairs = sorted(pairs, key=lambda pair: (-len(pair[0]), pair))
        self.values = frozenset(value for values in (secrets or {}).values() for value in values if value)

    def __bool__(self) -> bool:
        return bool(self._pairs)

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


NO_SECRETS = Scrubber()


# -- logs --------------------------------------------------------------------------------------------

class _Held:
    """The values turns of this process hold now, counted: two turns may hold the same system secret."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self.scrubber = NO_SECRETS

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self._counts.update(values)
            self._rebuild()

    def remove(self, values: Iterable[str]) -> None:
        with self._lock:
            self._counts.subtract(values)
            self._counts = +self._counts
            self._rebuild()

    def _rebuild(self) -> None:
        # The key is not known here: a log line gets a neutral marker.
        self.scrubber = Scrubber({"redacted": list(self._counts)}) if self._counts else NO_SECRETS


_HELD = _Held()
_installed = False


@contextmanager
def held(scrubber: Scrubber) -> Iterator[None]:
    """While inside, every log record this process makes has the scrubber's values taken out."""
    values = list(scrubber.values)
    if not values:
        yield
        return
    _HELD.add(values)
    try:
        yield
    finally:
        _HELD.remove(values)


def install_log_scrubbing() -> None:
    """Once per process, from its logging set-up (app/factory.py configure_logging)."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        scrubber = _HELD.scrubber
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
