"""The background jobs users may submit (submit_job): the one place an application registers them.

A job is a name and a Python entry point, `"package.module:function"`, called in the `jobs` worker
process (workers/jobs_main.py) as `function(ctx: JobContext) -> result`, where `ctx.payload` is
what the caller submitted and `ctx.query(...)` runs SQL as the submitting user (row-level security
applies). The result must be JSON (at most MAX_RESULT_BYTES once encoded); raising `JobFailed`
ends the job as failed with its message, which the user reads; any other exception fails it with
a generic message (the details go to the worker's log only).

To add one, add an entry to `JOBS` below (names are lower-case words joined by '.', '_' or '-'):

    "reports.monthly": JobEntry("myapp.jobs:monthly_report", "Monthly sales report as a table"),

`namespaces` limits which chatbot namespaces may submit it ("*": any). Entry points are imported
only when a job runs, in the worker: describing or submitting a job imports nothing.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["JOBS", "JobEntry", "UnknownJob", "find_job", "load_entry_point"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,99}")
_ENTRY_POINT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class JobEntry:
    entry_point: str
    description: str
    namespaces: tuple[str, ...] = ("*",)

    def __post_init__(self) -> None:
        if not _ENTRY_POINT.fullmatch(self.entry_point):
            raise ValueError(f"job entry point {self.entry_point!r} must be 'package.module:function'")

    def allows(self, namespace: str) -> bool:
        return "*" in self.namespaces or namespace in self.namespaces


def _checked(jobs: Mapping[str, JobEntry]) -> Mapping[str, JobEntry]:
    for name in jobs:
        if not _NAME.fullmatch(name):
            raise ValueError(f"job name {name!r} must be lower-case letters, digits, '.', '_' or '-' (1-100)")
    return MappingProxyType(dict(jobs))


JOBS: Mapping[str, JobEntry] = _checked({
    "demo.order_summary": JobEntry(
        "app.demo.jobs:order_summary",
        "Summarise the current user's orders (payload {} for all of them, or {\"order_id\": N} for one order)."),
})


class UnknownJob(LookupError):
    """No job of that name is registered for that namespace."""


def find_job(name: object, namespace: str, jobs: Mapping[str, JobEntry] = JOBS) -> JobEntry:
    entry = jobs.get(name) if isinstance(name, str) else None
    if entry is None or not entry.allows(namespace):
        known = sorted(n for n, e in jobs.items() if e.allows(namespace))
        shown = str(name)[:100]
        raise UnknownJob(f"no job named {shown!r} is registered" + (f" (known: {', '.join(known)})" if known else ""))
    return entry


def load_entry_point(entry: JobEntry) -> Callable[[Any], Any]:
    module_name, _, attribute = entry.entry_point.partition(":")
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"job entry point {entry.entry_point} is not callable")
    return function
