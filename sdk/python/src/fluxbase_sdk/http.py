"""JSON over HTTP with the standard library: the key as `apikey`, and a bearer token (a user's JWT
when one is set, else the key itself, as Fluxbase's SDK sends it)."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from fluxbase_sdk import errors

DEFAULT_TIMEOUT = 30.0


def segment(value: str) -> str:
    """One path segment: an id or name can never reach another route."""
    if not isinstance(value, str) or not value:
        raise errors.FluxbaseError("an id or name (a non-empty string) is required", code=errors.INVALID_ARGUMENT)
    return urllib.parse.quote(value, safe="")


class HttpClient:
    def __init__(self, base_url: str, key: str | None, *, timeout: float = DEFAULT_TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.token: str | None = None
        self.timeout = timeout

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "fluxbase-ai-sdk-python"}
        if self.key:
            headers["apikey"] = self.key
        bearer = self.token or self.key
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        return headers

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body=body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        """The decoded JSON answer (None for an empty one); raises a FluxbaseError for anything else."""
        url = self.base_url + path
        query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = self.headers()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return _decode(response.read(), response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            try:
                answer = json.loads(raw) if raw else None
            except ValueError:
                answer = None
            raise errors.error_for_status(exc.code, answer, retry_after_header=exc.headers.get("Retry-After")) from None
        except (TimeoutError, socket.timeout):
            raise errors.TimeoutError(f"{method} {path}: no answer within {self.timeout:g} s",
                                      code=errors.TIMEOUT) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise errors.ConnectionError(f"cannot reach {self.base_url}: {reason}",
                                         code=errors.CONNECTION_FAILED) from None


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode(raw: bytes, status: int) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise errors.FluxbaseError(f"the server answered HTTP {status} with a body that is not JSON",
                                   code=errors.BAD_RESPONSE, status=status) from None
