"""`create_client(url, key)`: the entry point, shaped as Fluxbase's (`client.ai`, `client.admin.ai`)."""
from __future__ import annotations

import urllib.parse

from fluxbase_sdk import errors
from fluxbase_sdk.admin import AdminAI
from fluxbase_sdk.ai import AI
from fluxbase_sdk.http import DEFAULT_TIMEOUT, HttpClient


class Admin:
    def __init__(self, http: HttpClient):
        self.ai = AdminAI(http)


class FluxbaseClient:
    def __init__(self, url: str, key: str | None = None, *, token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT):
        scheme = urllib.parse.urlsplit(url or "").scheme.lower() if isinstance(url, str) else ""
        if scheme not in ("http", "https"):
            raise errors.FluxbaseError("create_client needs the server's http(s) URL, e.g. http://localhost:8080",
                                       code=errors.INVALID_ARGUMENT)
        self.url = url.rstrip("/")
        self.http = HttpClient(self.url, key, timeout=timeout)
        self.http.token = token
        self.ai = AI(self.http)
        self.admin = Admin(self.http)

    def set_auth_token(self, token: str | None) -> None:
        """The user JWT REST calls carry from now on (conversations are a user's own); None: the key again."""
        self.http.token = token

    @property
    def auth_token(self) -> str | None:
        return self.http.token


def create_client(url: str, key: str | None = None, *, token: str | None = None,
                  timeout: float = DEFAULT_TIMEOUT) -> FluxbaseClient:
    """`key` is the anon key (end users) or the service key (trusted servers, admin calls); `token`
    a user's JWT for their own conversations."""
    return FluxbaseClient(url, key, token=token, timeout=timeout)
