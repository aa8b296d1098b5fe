"""The process environment beyond Settings, read here and nowhere else.

Settings reads every variable the server is configured by; three more uses are not settings: a child
process inherits the whole environment, a command may read a variable the user named on its
command line (a key kept out of shell history), and the client commands (`fluxbase chat`) read
where the server is and who they are, as the SDKs' users set them, not the server's configuration.
"""
from __future__ import annotations

import os


def inherited() -> dict[str, str]:
    """A copy of this process's environment, for the processes it starts."""
    return dict(os.environ)


def named_variable(name: str) -> str | None:
    """The value of a variable the user named (None when it is not set)."""
    return os.environ.get(name)


# The client commands' variables: the server to talk to, and the user JWT to talk to it with.
CLIENT_URL = "FLUXBASE_URL"
CLIENT_TOKEN = "FLUXBASE_TOKEN"


def client_url() -> str | None:
    return os.environ.get(CLIENT_URL) or None


def client_token() -> str | None:
    return os.environ.get(CLIENT_TOKEN) or None


def export(name: str, value: str) -> None:
    """Set a variable a library reads from the environment itself (prometheus_client's multiprocess
    folder), for this process and the ones it forks."""
    os.environ[name] = value
