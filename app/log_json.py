"""LOG_FORMAT=json: one JSON object per line, for log collectors.

Each line has `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message` and `pid`; the
fields of the log context it was made in (`turn_id`, `conversation_id`, `chatbot`, `socket`; see
app/log_context.py); and `exc` (the traceback text) with `exc_type` when an exception was logged.

Secret values a turn holds are taken out when the record is created (app/secrets/scrub.py, which
also formats the traceback then), before this formatter sees it; the formatter reads only the
message, the traceback and the context's ids, never a record's other attributes (`extra=` values
are not scrubbed, so they are not written).
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

from app import log_context

__all__ = ["ContextFilter", "JsonFormatter"]


class ContextFilter(logging.Filter):
    """Copies the log context onto the record, in the logging call's own context (handlers run there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.fluxbase_context = log_context.current()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        fields = getattr(record, "fluxbase_context", None)
        if fields is None:  # a handler without the filter: the context is still this call's
            fields = log_context.current()
        for key, value in fields.items():
            line.setdefault(key, value)
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # ASCII: a message with U+2028 or U+0085 in it still makes one line for every line splitter.
        return json.dumps(line, default=str)
