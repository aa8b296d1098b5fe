"""Retrying a provider request that failed before its answer began: bounded in count and in total time.

Our own loop rather than the `openai` client's: the client's is bounded in count only (with its
waits and a `retry-after` of up to a minute, a turn could sit in it for minutes), it cannot be
interrupted by a cancel, and it would retry again inside every subclass's own client.
"""
from __future__ import annotations

import email.utils
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    budget_seconds: float = 20.0   # from the first try; a wait that would end past it is not started
    first_delay: float = 0.5
    max_delay: float = 8.0

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` (0-based) when the provider named none: exponential, with
        jitter so that clients turned away together do not all come back at the same moment."""
        return min(self.max_delay, self.first_delay * 2 ** min(retry, 30)) * (1 - 0.25 * random.random())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a provider asked for: `retry-after-ms` (OpenAI's, more precise) or `retry-after`, in
    seconds or as an HTTP date. None when absent or unreadable."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is not None and when.tzinfo is not None:
            return max(when.timestamp() - time.time(), 0.0)
    return None


def call_with_retries(send: Callable[[], T], policy: RetryPolicy, *, worth_retrying: Callable[[Exception], bool],
                      asked_wait: Callable[[Exception], float | None], stop: threading.Event,
                      clock: Callable[[], float] = time.monotonic) -> T:
    """`send()`, again after each failure worth retrying while the policy allows; otherwise its last
    exception is raised. Setting `stop` ends a wait at once, with that exception."""
    deadline = clock() + policy.budget_seconds
    retry = 0
    while True:
        try:
            return send()
        except Exception as exc:
            if retry >= policy.max_retries or not worth_retrying(exc) or stop.is_set():
                raise
            asked = asked_wait(exc)
            wait = asked if asked is not None else policy.backoff(retry)
            if clock() + wait > deadline:
                # Coming back sooner than the provider asked is pointless: give up now, and the
                # client is told how long to wait (`retry_after`).
                raise
            log.warning("provider request failed (%s); retry %d of %d in %.2f s", exc.__class__.__name__,
                        retry + 1, policy.max_retries, wait)
            if stop.wait(wait):
                raise
            retry += 1
