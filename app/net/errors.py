"""The two ways a guarded request ends without an answer; both carry text meant for the model to read."""
from __future__ import annotations

__all__ = ["HttpFailed", "HttpRefused", "UrlRefused"]


class HttpRefused(Exception):
    """The request (or a redirect it led to) breaks a rule; nothing was sent for the refused hop."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class UrlRefused(HttpRefused):
    """A URL that the strict parser or the destination rules do not accept."""


class HttpFailed(Exception):
    """The request was allowed but did not produce an answer: timeouts, refused connections, bad TLS, bad HTTP."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
