"""The process environment beyond Settings, read here and nowhere else.

Settings reads every variable the server is configured by; two more uses are not settings: a child
process inherits the whole environment, and a command may read a variable the user named on its
command line (a key kept out of shell history).
"""
from __future__ import annotations

import os


def inherited() -> dict[str, str]:
    """A copy of this process's environment, for the processes it starts."""
    return dict(os.environ)


def named_variable(name: str) -> str | None:
    """The value of a variable the user named (None when it is not set)."""
    return os.environ.get(name)
