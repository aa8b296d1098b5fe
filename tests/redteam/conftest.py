"""The red-team suite's size and its summary table.

`REDTEAM_SCALE=short` (the default, part of `make test`) runs in seconds; `REDTEAM_SCALE=full`
(`make redteam`) runs every payload and the large request and fuzz counts. Each test adds its
rows to the report, printed as one table at the end of the session.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support.suite_table import format_table, pick_scale


@dataclass(frozen=True)
class Scale:
    name: str
    pooled_requests: int     # per phase (sequential, then concurrent)
    pool_threads: int
    ws_fuzz_cases: int
    rest_fuzz_cases: int
    all_payloads: bool


SCALES = {
    "short": Scale("short", pooled_requests=1_000, pool_threads=4, ws_fuzz_cases=200, rest_fuzz_cases=300,
                   all_payloads=False),
    "full": Scale("full", pooled_requests=10_000, pool_threads=8, ws_fuzz_cases=5_000, rest_fuzz_cases=5_000,
                  all_payloads=True),
}


def _scale() -> Scale:
    return pick_scale("REDTEAM_SCALE", SCALES)


@dataclass
class Row:
    suite: str
    category: str
    cases: int
    harmless: int
    failures: int
    note: str = ""


@dataclass
class Report:
    scale: Scale
    rows: list[Row] = field(default_factory=list)

    def add(self, suite: str, category: str, cases: int, harmless: int, failures: int, note: str = "") -> None:
        self.rows.append(Row(suite, category, cases, harmless, failures, note))

    def table(self) -> list[str]:
        head = ("suite", "category", "cases", "refused/harmless", "failures", "note")
        rows = [(r.suite, r.category, str(r.cases), str(r.harmless), str(r.failures), r.note) for r in self.rows]
        total_failures = sum(r.failures for r in self.rows)
        return format_table(head, rows, left=(0, 1, 5)) + [
            f"scale: {self.scale.name}; cases: {sum(r.cases for r in self.rows)}; failures: {total_failures}"]


_REPORT = pytest.StashKey[Report]()


@pytest.fixture(scope="session")
def scale() -> Scale:
    return _scale()


@pytest.fixture(scope="session")
def report(request, scale) -> Report:
    config = request.config
    if _REPORT not in config.stash:
        config.stash[_REPORT] = Report(scale)
    return config.stash[_REPORT]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    report = config.stash.get(_REPORT, None)
    if report is None or not report.rows:
        return
    terminalreporter.section("red team summary")
    for line in report.table():
        terminalreporter.write_line(line)
