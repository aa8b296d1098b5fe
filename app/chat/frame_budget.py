"""How fast one socket may send frames: a token bucket, in memory (a socket lives in one process).

Each frame that reaches the handlers can cost a database statement; without a bound one socket
pushed about 185 refused messages a second. A socket over the rate gets RATE_LIMIT_EXCEEDED with
`retry_after`, and the frame is dropped before it is parsed.
"""
from __future__ import annotations

import time
from collections.abc import Callable


class FrameBudget:
    def __init__(self, per_second: int, *, burst: int | None = None, clock: Callable[[], float] = time.monotonic):
        self._rate = float(per_second)
        self._capacity = float(burst if burst is not None else 2 * per_second)
        self._tokens = self._capacity
        self._clock = clock
        self._at = clock()

    def take(self) -> float | None:
        """None when the frame may go on; otherwise the seconds until one may."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return None
        return (1 - self._tokens) / self._rate
