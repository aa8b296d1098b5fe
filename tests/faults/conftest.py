"""The fault suite's size, its random seed, its stacks and its summary table.

`FAULTS_SCALE=short` (the default, part of `make test`) runs each fault a few times; `FAULTS_SCALE=full`
(`make faults`) repeats each at the sizes docs/reliability.md reports. Faults strike at random points;
`FAULTS_SEED=<n>` replays a run's points (the seed is printed with the table). Each test adds one row per
fault: what was expected, what was observed, and how many runs failed.

The stacks are real processes of their own (tests/support/stack.py), so killing or restarting one of
their services never touches the session's shared processes.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import pytest

from tests.support.suite_table import format_table, pick_scale


@dataclass(frozen=True)
class Scale:
    name: str
    kill_batches: int        # worker SIGKILLs ...
    kill_turns: int          # ... each with this many turns in flight at random points
    redis_restarts: int
    redis_turns: int         # streaming at once during each restart
    pg_restarts: int
    pg_turns: int            # in flight during each restart
    pg_probes: int           # REST requests timed while PostgreSQL is down, per restart
    provider_turns: int      # stalled / cut streams, each
    storm_turns: int         # turns at once against a provider answering 429
    socket_drops: int
    embed_kills: int
    embed_paragraphs: int


SCALES = {
    "short": Scale("short", kill_batches=1, kill_turns=3, redis_restarts=2, redis_turns=3, pg_restarts=1, pg_turns=2,
                   pg_probes=20, provider_turns=3, storm_turns=20, socket_drops=50, embed_kills=1,
                   embed_paragraphs=60),
    "full": Scale("full", kill_batches=5, kill_turns=4, redis_restarts=10, redis_turns=5, pg_restarts=5, pg_turns=4,
                  pg_probes=100, provider_turns=20, storm_turns=100, socket_drops=500, embed_kills=5,
                  embed_paragraphs=400),
}


@dataclass
class Row:
    fault: str
    runs: int
    expected: str
    observed: str
    failures: int


@dataclass
class Report:
    scale: Scale
    seed: int
    rows: list[Row] = field(default_factory=list)

    def add(self, fault: str, runs: int, expected: str, observed: str, failures: int) -> None:
        self.rows.append(Row(fault, runs, expected, observed, failures))

    def table(self) -> list[str]:
        head = ("fault", "runs", "expected outcome", "observed", "failures")
        rows = [(r.fault, str(r.runs), r.expected, r.observed, str(r.failures)) for r in self.rows]
        return format_table(head, rows, left=(0, 2, 3)) + [
            f"scale: {self.scale.name}; seed: {self.seed}; runs: {sum(r.runs for r in self.rows)}; "
            f"failures: {sum(r.failures for r in self.rows)}"]


_REPORT = pytest.StashKey[Report]()


@pytest.fixture(scope="session")
def scale() -> Scale:
    return pick_scale("FAULTS_SCALE", SCALES)


@pytest.fixture(scope="session")
def report(request, scale) -> Report:
    config = request.config
    if _REPORT not in config.stash:
        seed = os.environ.get("FAULTS_SEED", "").strip()
        config.stash[_REPORT] = Report(scale, int(seed) if seed else random.SystemRandom().randrange(1_000_000))
    return config.stash[_REPORT]


@pytest.fixture
def rng(request, report) -> random.Random:
    """A generator per test, seeded from the session's seed and the test's name (replayable one by one)."""
    return random.Random(f"{report.seed}:{request.node.name}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = config.stash.get(_REPORT, None)
    if report is None or not report.rows:
        return
    terminalreporter.section("fault suite summary")
    for line in report.table():
        terminalreporter.write_line(line)


# The provider settings of the stack: a stalled stream ends after LLM_TIMEOUT_SECONDS (so every hold
# in these tests is shorter), and a failure before any text is retried, twice at most within 4 s.
STACK_ENV = {"LLM_TIMEOUT_SECONDS": "5", "LLM_MAX_RETRIES": "2", "LLM_RETRY_SECONDS": "4",
             "DB_ACQUIRE_TIMEOUT_SECONDS": "2"}
WORKER_CONCURRENCY = 100  # the 429 storm's turns all run at once


@pytest.fixture(scope="session")
def fault_stack(base_env, database, workdir):
    """One stack of real processes for every fault (each costs tens of seconds to start on a busy
    machine): a web process, a worker, and their own Redis and PostgreSQL. A test that replaces the
    worker leaves its replacement in `worker`."""
    from tests.support.stack import isolated_stack

    with isolated_stack(base_env, workdir, "faults", own_postgres=True, worker_concurrency=WORKER_CONCURRENCY,
                        env=STACK_ENV) as running:
        first = running.worker
        try:
            yield running
        finally:
            if running.worker is not first:  # a replacement started by a test; the stack stops its first
                running.worker.stop()
