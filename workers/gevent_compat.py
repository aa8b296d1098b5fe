"""Repairs for running Celery's worker under gevent.

`celery worker -P gevent` patches the standard library only after importing parts of kombu; one
of them, `kombu.utils.functional`, did `from time import sleep` first and keeps the blocking
sleep. The broker reconnect loop sleeps through it, so while Redis is away every greenlet of the
process (every running turn: streams, tools, the cancel and lease keepers) froze for the whole
retry backoff, seconds to tens of seconds at a time. Measured: a task ticking every 0.1 s stopped
for 10 s during one Redis outage.
"""
from __future__ import annotations

import sys
import time

# Libraries that may have bound the unpatched sleep before gevent patched `time`.
_EARLY_IMPORTERS = ("kombu", "celery", "amqp", "billiard", "vine")


def repair_blocking_sleeps() -> list[str]:
    """Point early `from time import sleep` bindings at gevent's sleep; returns the modules repaired."""
    try:
        from gevent import monkey
    except ImportError:
        return []
    if not monkey.is_module_patched("time"):
        return []
    blocking = monkey.get_original("time", "sleep")
    repaired = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in _EARLY_IMPORTERS and getattr(module, "sleep", None) is blocking:
            module.sleep = time.sleep
            repaired.append(name)
    return repaired
