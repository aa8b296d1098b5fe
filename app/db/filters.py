"""Filtered listings built from fixed SQL pieces: only the conditions whose parameter is given are
joined in, so no caller text ever becomes SQL."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def where_clause(conditions: Mapping[str, str], params: Mapping[str, Any]) -> str:
    """`where a and b` for the conditions whose key is in `params`; empty when none is."""
    chosen = [sql for key, sql in conditions.items() if key in params]
    return "where " + " and ".join(chosen) if chosen else ""
