"""Judging a case's run against its expectations: one `Check` per expectation, each with why."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.eval.cases import EvalCase
from app.eval.compare import compare_rows
from app.eval.reference import ReferenceFailed, ReferenceResult
from app.eval.runner import CaseRun

__all__ = ["CaseResult", "Check", "judge"]


@dataclass(frozen=True)
class Check:
    name: str          # the expectation's key, e.g. sql_result_equals
    passed: bool
    detail: str


@dataclass
class CaseResult:
    case: EvalCase
    run: CaseRun | None
    checks: list[Check] = field(default_factory=list)
    failure: str | None = None        # the case could not be run at all

    @property
    def passed(self) -> bool:
        return self.failure is None and all(check.passed for check in self.checks)

    @property
    def why(self) -> str:
        if self.failure:
            return self.failure
        failed = [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]
        return "; ".join(failed) if failed else "all expectations hold"

    def sql_check(self) -> Check | None:
        return next((c for c in self.checks if c.name == "sql_result_equals"), None)

    def as_json(self) -> dict[str, Any]:
        run = self.run
        query = run.last_successful_query() if run else None
        return {
            "id": self.case.id, "user": self.case.user_label, "passed": self.passed, "why": self.why,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "ending": run.ending if run else None, "error_code": run.error_code if run else None,
            "prompt_tokens": run.prompt_tokens if run else 0, "completion_tokens": run.completion_tokens if run else 0,
            "tokens": run.tokens if run else 0, "latency_ms": round(run.latency_ms, 1) if run else None,
            "tools_called": run.tools_called if run else [], "approvals": run.approvals if run else [],
            "sql": query.get("query") if query else None,
            "conversation_id": run.conversation_id if run else None,
        }


def judge(case: EvalCase, run: CaseRun, reference: ReferenceResult | ReferenceFailed | None) -> CaseResult:
    result = CaseResult(case, run)
    if run.ending != "done":
        what = f"{run.error_code}: {run.error_text}" if run.ending == "error" else run.ending or "no ending"
        result.failure = f"the turn ended with {what}"
        return result
    expect = case.expect
    if expect.sql_result_equals is not None:
        result.checks.append(_sql(run, reference))
    called = set(run.tools_called)
    for name in expect.tool_called:
        result.checks.append(Check("tool_called", name in called,
                                   f"{name} was called" if name in called else f"{name} was not called"
                                   + (f" (called: {', '.join(run.tools_called)})" if run.tools_called else "")))
    for name in expect.tool_not_called:
        result.checks.append(Check("tool_not_called", name not in called,
                                   f"{name} was called" if name in called else f"{name} was not called"))
    answer = run.text.casefold()
    for text in expect.answer_contains:
        found = text.casefold() in answer
        result.checks.append(Check("answer_contains", found, f"{'has' if found else 'lacks'} {text!r}"))
    for text in expect.answer_not_contains:
        found = text.casefold() in answer
        result.checks.append(Check("answer_not_contains", not found, f"{'has' if found else 'lacks'} {text!r}"))
    if expect.max_tokens is not None:
        within = run.tokens <= expect.max_tokens
        result.checks.append(Check("max_tokens", within, f"{run.tokens} tokens, at most {expect.max_tokens}"))
    return result


def _sql(run: CaseRun, reference: ReferenceResult | ReferenceFailed | None) -> Check:
    if isinstance(reference, ReferenceFailed) or reference is None:
        return Check("sql_result_equals", False, str(reference or "the reference query did not run"))
    query = run.last_successful_query()
    if query is None:
        failed = len(run.queries)
        return Check("sql_result_equals", False,
                     "no query ran" if not failed else f"no query succeeded ({failed} failed)")
    if query.get("truncated") or query.get("replay_truncated"):
        return Check("sql_result_equals", False, f"the turn's result was cut at {query.get('row_count')} rows")
    outcome = compare_rows(query.get("data") or [], reference.rows, ordered=reference.ordered,
                           expected_columns=reference.columns)
    return Check("sql_result_equals", outcome.equal, outcome.reason)
