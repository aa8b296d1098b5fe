"""uvicorn's access log without credentials: a token put in the URL is refused (app/mcp_server/access.py),
but uvicorn had already written the request line, token and all, to the log.

`log_config()` is uvicorn's own logging configuration with `RedactQuerySecrets` on the access handler.
"""
from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

__all__ = ["RedactQuerySecrets", "log_config", "redact"]

# Query parameters that carry a credential in some client's habits (the web's ?token=, PostgREST's
# ?apikey=, OAuth's ?access_token=): their values never reach a log line.
_SECRET_PARAMETER = re.compile(r"(?i)([?&](?:token|access_token|id_token|jwt|apikey|api_key|key|service_key)=)"
                               r"[^&#\s\"]*")


def redact(request_target: str) -> str:
    return _SECRET_PARAMETER.sub(r"\1[redacted]", request_target)


class RedactQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs (client, method, path with query, http version, status) as the record's args.
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def log_config() -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query_secrets"] = {"()": f"{__name__}.RedactQuerySecrets"}
    config["handlers"]["access"]["filters"] = ["redact_query_secrets"]
    return config
