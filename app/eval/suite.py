"""Where case files are, which chatbot each belongs to, and what an evaluation reports in total.

A case file sits next to its chatbot's definition (app/chatbots/discovery.py decides what a chatbot is):

    chatbots/<name>/index.ts               -> chatbots/<name>/eval.yaml
    chatbots/<namespace>/<name>/index.ts   -> chatbots/<namespace>/<name>/eval.yaml
    chatbots/<name>.ts                     -> chatbots/<name>.eval.yaml

A sync reads only `.ts` files, and a folder with an `index.ts` is one chatbot whatever else it
holds, so a case file never changes what a sync does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.chatbots.discovery import scan_chatbots
from app.eval.cases import EvalCase
from app.eval.verdict import CaseResult

__all__ = ["CaseFile", "ChatbotReport", "case_file_of", "find_case_files", "select_cases", "summary"]

CASE_FILE_NAMES = ("eval.yaml", "eval.yml")


@dataclass(frozen=True)
class CaseFile:
    namespace: str | None     # None: found by name on the server (an explicit --file)
    name: str
    path: Path


@dataclass
class ChatbotReport:
    namespace: str
    name: str
    path: str
    provider: str | None
    results: list[CaseResult] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    def as_json(self) -> dict[str, Any]:
        compared, equal = _accuracy(self.results)
        return {"chatbot": self.name, "namespace": self.namespace, "file": self.path, "provider": self.provider,
                "total": len(self.results), "passed": self.passed, "failed": len(self.results) - self.passed,
                "execution_accuracy": equal / compared if compared else None, "sql_cases": compared,
                "cases": [r.as_json() for r in self.results]}


def case_file_of(definition: Path) -> Path | None:
    folder, stem = (definition.parent, None) if definition.name == "index.ts" else (definition.parent,
                                                                                    definition.name[:-3])
    names = CASE_FILE_NAMES if stem is None else tuple(f"{stem}.{n}" for n in CASE_FILE_NAMES)
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def find_case_files(root: Path, *, chatbot: str | None = None, namespace: str | None = None) -> list[CaseFile]:
    """The case files of the chatbots under `root` (one chatbot, or all), sorted by namespace and name.
    A chatbot file that cannot be read is skipped here: the sync reports it."""
    found = []
    for source in scan_chatbots(root).sources:
        if chatbot is not None and source.name != chatbot:
            continue
        if namespace is not None and source.namespace != namespace:
            continue
        path = case_file_of(Path(source.path))
        if path is not None:
            found.append(CaseFile(source.namespace, source.name, path))
    return found


def summary(reports: list[ChatbotReport]) -> dict[str, Any]:
    results = [r for report in reports for r in report.results]
    compared, equal = _accuracy(results)
    passed = sum(1 for r in results if r.passed)
    return {"total": len(results), "passed": passed, "failed": len(results) - passed,
            "execution_accuracy": equal / compared if compared else None, "sql_cases": compared,
            "sql_cases_equal": equal}


def _accuracy(results: list[CaseResult]) -> tuple[int, int]:
    """Execution accuracy is over the cases with `sql_result_equals`: how many returned the reference's rows."""
    with_sql = [r for r in results if r.case.expect.sql_result_equals is not None]
    equal = sum(1 for r in with_sql if (check := r.sql_check()) is not None and check.passed and r.failure is None)
    return len(with_sql), equal


def select_cases(cases: tuple[EvalCase, ...], wanted: str | None) -> tuple[EvalCase, ...]:
    return cases if wanted is None else tuple(c for c in cases if c.id == wanted)
