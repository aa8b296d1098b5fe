"""What the on-demand suites (tests/redteam, tests/faults) share: a scale picked from the environment
and a plain-text summary table printed at the end of the session."""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TypeVar

import pytest

S = TypeVar("S")


def pick_scale(variable: str, scales: Mapping[str, S], default: str = "short") -> S:
    """The scale named by `variable` (tests may read the environment; the server reads it only through config/)."""
    name = os.environ.get(variable, default).strip().lower() or default
    if name not in scales:
        raise pytest.UsageError(f"{variable} must be one of {', '.join(scales)}, not {name!r}")
    return scales[name]


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int]) -> list[str]:
    """Columns padded to their widest cell: those in `left` aligned left, the others (figures) right."""
    cells = [tuple(head)] + [tuple(row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    return [line(cells[0]), line(tuple("-" * w for w in widths))] + [line(row) for row in cells[1:]]
