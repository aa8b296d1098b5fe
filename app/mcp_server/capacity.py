"""How many tool calls run at once: in all, and per caller.

Tool calls block (SQL, HTTP functions up to their 10 s deadline) and run in worker threads. On the
event loop's default thread pool they would share its 40 threads with authenticating every request
and with /health, so one user firing slow calls in parallel stalled the server for everyone. Here
tool calls have a pool of their own, and each caller (a signed-in user by id, anyone else by client
address) at most MAX_CALLS_PER_CALLER of them at once; a call past that is refused at once, as a
tool error saying so, rather than queued behind the others.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import anyio

__all__ = ["MAX_CALLS_PER_CALLER", "MAX_TOOL_THREADS", "CallCapacity", "TooManyCalls"]

MAX_TOOL_THREADS = 32
MAX_CALLS_PER_CALLER = 8


class TooManyCalls(Exception):
    pass


class CallCapacity:
    """Used from the event loop only (no lock needed); the limiter is made there, on first use."""

    def __init__(self, threads: int = MAX_TOOL_THREADS, per_caller: int = MAX_CALLS_PER_CALLER):
        self.threads, self.per_caller = threads, per_caller
        self._limiter: anyio.CapacityLimiter | None = None
        self._in_flight: Counter[str] = Counter()

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    @contextmanager
    def slot(self, caller_key: str) -> Iterator[None]:
        if self._in_flight[caller_key] >= self.per_caller:
            raise TooManyCalls(f"too many tool calls at once (at most {self.per_caller} per user); "
                               "wait for one to finish and try again")
        self._in_flight[caller_key] += 1
        try:
            yield
        finally:
            self._in_flight[caller_key] -= 1
            if not self._in_flight[caller_key]:
                del self._in_flight[caller_key]
