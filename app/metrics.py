"""The process's Prometheus metrics: created once at process start, written by every process of a machine
into one folder (prometheus_client's multiprocess mode), read by the web process's `/metrics`.

gunicorn runs several web worker processes and Celery workers are processes of their own, so no process
holds every value: each writes its own memory-mapped files under METRICS_DIR and a scrape adds them up
(app/web/metrics.py). `init_metrics(settings)` is called by each process entry point (app/wsgi.py,
workers/main.py, workers/embeddings_main.py) before anything counts; code that was handed no metrics
gets `NO_METRICS`, which counts nothing (unit tests, scripts).

Names and labels are the contract docs/operations.md lists. Label values are bounded: a tool name the
registry does not know is counted as `unknown` (the model writes tool names), chatbots are the synced ones.
"""
from __future__ import annotations

from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import mark_process_dead

from app.protocol import Code, ProtocolError
from config import Settings, environment

__all__ = ["NO_METRICS", "Metrics", "clear_metrics_dir", "init_metrics", "mark_dead", "refused_limit"]

# Seconds. From a `message` frame to the answer's first words: queueing, planning and the provider.
FIRST_DELTA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0)
TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# From the worker's publish to the socket's send: a millisecond or two when all is well (docs/chat.md).
RELAY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

# What a refusal counts as in fluxbase_limit_refusals_total{limit}.
_LIMITS = {Code.DAILY_LIMIT_EXCEEDED: "daily", Code.TOKEN_BUDGET_EXCEEDED: "token_budget", Code.TURN_LIMIT: "turns"}


def refused_limit(exc: ProtocolError) -> str | None:
    """The limit a refusal was for (`rate`, `frames`, `conversations`, `daily`, `token_budget`, `turns`), or None."""
    if exc.code is Code.RATE_LIMIT_EXCEEDED:
        return str(exc.extra.get("limit") or "rate")
    return _LIMITS.get(exc.code)


class Metrics:
    """Every metric this server keeps, behind methods that take plain values (callers never see labels)."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.on = directory is not None
        if not self.on:
            return
        # registry=None: values live in the multiprocess files, which the scrape reads; nothing per process.
        self._turns_started = Counter("fluxbase_turns_started", "Turns accepted and queued (web).", registry=None)
        self._turns_finished = Counter("fluxbase_turns_finished", "Turns closed, by outcome and error code.",
                                       ["outcome", "code"], registry=None)
        self._first_delta = Histogram("fluxbase_time_to_first_delta_seconds",
                                      "From the `message` frame to the first content delta on that socket (web).",
                                      buckets=FIRST_DELTA_BUCKETS, registry=None)
        self._turn_duration = Histogram("fluxbase_turn_duration_seconds",
                                        "One attempt at a turn, from its start in the worker to its close.",
                                        ["outcome"], buckets=TURN_BUCKETS, registry=None)
        self._tool_calls = Counter("fluxbase_tool_calls", "Tool calls the model made, by tool and verdict.",
                                   ["tool", "verdict"], registry=None)
        self._tokens = Counter("fluxbase_tokens", "Tokens used by turns, by chatbot and kind.",
                               ["namespace", "chatbot", "kind"], registry=None)
        self._limit_refusals = Counter("fluxbase_limit_refusals", "Requests refused by a limit.", ["limit"],
                                       registry=None)
        self._relay_lag = Histogram("fluxbase_relay_lag_seconds",
                                    "From an event's publish (worker) to its send on a socket (web).",
                                    buckets=RELAY_BUCKETS, registry=None)
        # livesum: a dead process's sockets are gone with it (its file is dropped by mark_dead).
        self._sockets = Gauge("fluxbase_sockets_open", "Open chat WebSockets.", multiprocess_mode="livesum",
                              registry=None)

    def turn_started(self) -> None:
        if self.on:
            self._turns_started.inc()

    def turn_finished(self, outcome: str, code: str | None, seconds: float | None = None) -> None:
        """`outcome`: done, error, cancelled or timeout; `code` the error code (errors only)."""
        if self.on:
            # The duration first: whoever sees the turn counted as finished then sees its duration too
            # (each value is its own write to the multiprocess files; a scrape can fall between them).
            if seconds is not None:
                self._turn_duration.labels(outcome).observe(seconds)
            self._turns_finished.labels(outcome, code or "").inc()

    def first_delta(self, seconds: float) -> None:
        if self.on:
            self._first_delta.observe(seconds)

    def tool_call(self, tool: str, verdict: str) -> None:
        """`verdict`: ok, error (the tool ran and failed, or refused the arguments) or refused (not run)."""
        if self.on:
            self._tool_calls.labels(tool, verdict).inc()

    def tokens(self, namespace: str, chatbot: str, prompt: int, completion: int) -> None:
        if self.on:
            if prompt > 0:
                self._tokens.labels(namespace, chatbot, "prompt").inc(prompt)
            if completion > 0:
                self._tokens.labels(namespace, chatbot, "completion").inc(completion)

    def refused(self, exc: ProtocolError) -> None:
        """Counts the refusal when it is a limit's; any other error is not a limit refusal."""
        if self.on:
            limit = refused_limit(exc)
            if limit is not None:
                self._limit_refusals.labels(limit).inc()

    def relay_lag(self, seconds: float) -> None:
        if self.on:
            self._relay_lag.observe(max(0.0, seconds))  # clocks of two machines may disagree a little

    def socket_opened(self) -> None:
        if self.on:
            self._sockets.inc()

    def socket_closed(self) -> None:
        if self.on:
            self._sockets.dec()


NO_METRICS = Metrics(None)
_initialised: Metrics | None = None


def init_metrics(settings: Settings) -> Metrics:
    """The process's metrics, writing under METRICS_DIR; once per process (later calls return the same)."""
    global _initialised
    if _initialised is not None:
        return _initialised
    directory = Path(settings.metrics_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # prometheus_client reads the folder from this variable whenever it opens a process's file (also after
    # a fork, in Celery's prefork children), and picks its value class when it is first imported, which
    # may have been before Settings were read: both are set here, before the first metric exists.
    environment.export("PROMETHEUS_MULTIPROC_DIR", str(directory))
    values.ValueClass = values.MultiProcessValue()
    _initialised = Metrics(directory)
    return _initialised


def clear_metrics_dir(directory: Path) -> None:
    """Forget the values of processes that are gone (`fluxbase run`, before it starts the processes)."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.glob("*.db"):
        entry.unlink(missing_ok=True)


def mark_dead(pid: int, directory: Path) -> None:
    """A web worker process exited (gunicorn's `child_exit`): its open sockets no longer count."""
    mark_process_dead(pid, str(directory))
