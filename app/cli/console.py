"""The CLI's rich consoles: one place decides their width and wrapping."""
from __future__ import annotations

import sys

from rich.console import Console

# Piped output (scripts, CI logs) has no terminal width; rich would squeeze tables into 80 columns.
_PIPED_WIDTH = 200


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else _PIPED_WIDTH
    return Console(stderr=stderr, soft_wrap=True, highlight=False, width=width)
