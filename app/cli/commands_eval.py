"""`fluxbase eval [CHATBOT] [--namespace N] [--provider NAME] [--case ID] [--json] [--url URL] [--file PATH]`:
run a chatbot's test cases (docs/eval.md) through a running server and report pass/fail, tokens, latency
and the execution accuracy.

Exit codes: 0 every case passed, 1 some failed, 2 bad input or configuration (a case file, a reference
query, a chatbot or provider that is not there, a server that does not answer); nothing is run then.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fluxbase_sdk import ConnectionError as SdkConnectionError
from rich.markup import escape
from rich.table import Table

from app.auth.tokens import mint
from app.chatbots import repository as chatbots
from app.chatbots.policy import server_policy
from app.chatbots.spec import is_valid_name
from app.cli.commands_chat import TOKEN_TTL_SECONDS, server_url
from app.cli.console import make_console
from app.db.connect import connect_owner
from app.eval.cases import CaseFileError, EvalCase, load_case_file
from app.eval.reference import ReferenceFailed, ReferenceRunner
from app.eval.runner import CaseRunner, PinFailed, TurnFailed
from app.eval.suite import (
    CaseFile,
    ChatbotReport,
    find_case_files,
    select_cases,
    summary,
)
from app.eval.verdict import CaseResult, judge
from app.providers import admin as provider_admin
from app.providers import repository as provider_repo
from app.providers.pinning import ProviderDisabled, pin_target
from app.runtime import Runtime
from app.sql.executor import SqlExecutor
from app.tools.sql_tool import chatbot_access_policy
from config import Settings

out = make_console()
err = make_console(stderr=True)

# A turn ends by the server's TURN_TIMEOUT_SECONDS; the client waits a little longer for its ending.
_EVENT_SLACK_SECONDS = 30


class EvalInputError(Exception):
    """Bad input or configuration: printed as one line, exit code 2, no case is run."""


def add_parsers(sub) -> None:
    p = sub.add_parser("eval", help="run a chatbot's test cases (eval.yaml) against a running server")
    p.add_argument("chatbot", nargs="?", metavar="CHATBOT", help="the chatbot (default: every chatbot with cases)")
    p.add_argument("--namespace", default=None, metavar="N", help="its namespace (default: found by name)")
    p.add_argument("--provider", default=None, metavar="NAME",
                   help="run every case on this provider: each case's conversation is pinned to it (needs SERVICE_KEY)")
    p.add_argument("--case", default=None, metavar="ID", help="run only this case")
    p.add_argument("--file", type=Path, default=None, metavar="PATH",
                   help="a case file elsewhere than next to the chatbot (needs CHATBOT)")
    p.add_argument("--json", action="store_true", help="print machine-readable results (for CI)")
    p.add_argument("--keep-conversations", action="store_true",
                   help="keep the conversations the cases ran in (deleted by default)")
    p.add_argument("--url", default=None, metavar="URL",
                   help="the server (default FLUXBASE_URL, else http://HOST:PORT from the settings)")
    p.set_defaults(handler=cmd_eval)


def cmd_eval(settings: Settings, args) -> int:
    try:
        _server_url(settings, args.url)   # a bad --url is bad input (exit 2), found before anything runs
        plan = _prepare(settings, args)
        reports = _run(settings, args, plan)
    except EvalInputError as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        else:
            err.print(f"[red]eval:[/] {escape(str(exc))}")
        return 2
    totals = summary(reports)
    if args.json:
        print(json.dumps({**totals, "chatbots": [r.as_json() for r in reports]}, indent=2))
    else:
        _print(reports, totals)
    return 0 if totals["failed"] == 0 else 1


# -- before anything runs: files, chatbots, provider, reference queries ----------------------------

@dataclass(frozen=True)
class _Planned:
    source: CaseFile
    namespace: str
    cases: tuple[EvalCase, ...]
    schema: str              # the search_path schema reference queries run with, as the chatbot's SQL does
    provider: str | None     # the provider its turns go to: --provider's, else the chatbot's choice


def _prepare(settings: Settings, args) -> list[_Planned]:
    for value, what in ((args.chatbot, "chatbot name"), (args.namespace, "namespace")):
        if value is not None and not is_valid_name(value):
            raise EvalInputError(f"not a {what}: {value!r} (lower-case letters, digits, '-' and '_')")
    if settings.production:
        raise EvalInputError("eval signs in as the cases' users with tokens it mints, which is done only in "
                             "development: run it against a development or staging server")
    sources = _sources(settings, args)
    planned = []
    with connect_owner(settings) as conn:
        for source in sources:
            cases = select_cases(_load(source.path), args.case)
            if not cases:
                continue
            namespace = _namespace(conn, source)
            record = chatbots.load_enabled(conn, namespace, source.name, policy=server_policy(settings))
            if record is None:
                raise EvalInputError(f"chatbot {namespace}/{source.name} is not on the server or is disabled "
                                     "(`fluxbase chatbots sync`, `fluxbase chatbots list`)")
            policy = chatbot_access_policy(record.config)
            provider = _provider(conn, settings, record.config.get("provider"), args.provider)
            planned.append(_Planned(source, namespace, cases, policy.default_schema if policy else "public", provider))
    if args.case and not planned:
        raise EvalInputError(f"no case {args.case!r} in " + ", ".join(str(s.path) for s in sources))
    if not settings.service_key and any(c.expect.tool_called or c.expect.tool_not_called
                                        for p in planned for c in p.cases):
        raise EvalInputError("tool_called / tool_not_called read the turn's tool calls with the admin API: "
                             "set SERVICE_KEY")
    return planned


def _sources(settings: Settings, args) -> list[CaseFile]:
    if args.file is not None:
        if not args.chatbot:
            raise EvalInputError("--file needs the CHATBOT its cases are for")
        return [CaseFile(args.namespace, args.chatbot, args.file)]
    try:
        found = find_case_files(settings.chatbots_dir, chatbot=args.chatbot, namespace=args.namespace)
    except Exception as exc:  # the chatbots directory itself is missing or unreadable
        raise EvalInputError(str(exc)) from None
    if not found:
        which = f"chatbot {args.chatbot}" if args.chatbot else "any chatbot"
        raise EvalInputError(f"no eval.yaml next to {which} under {settings.chatbots_dir} (docs/eval.md)")
    return found


def _load(path: Path) -> tuple[EvalCase, ...]:
    try:
        return load_case_file(path)
    except CaseFileError as exc:
        raise EvalInputError(str(exc)) from None


def _namespace(conn, source: CaseFile) -> str:
    if source.namespace is not None:
        return source.namespace
    rows = chatbots.find_by_name(conn, source.name)
    if not rows:
        raise EvalInputError(f"no chatbot {source.name!r} on the server (`fluxbase chatbots list`)")
    if len(rows) > 1:
        raise EvalInputError(f"chatbot {source.name!r} is in several namespaces "
                             f"({', '.join(r.namespace for r in rows)}): give --namespace")
    return rows[0].namespace


def _provider(conn, settings: Settings, declared: str | None, required: str | None) -> str | None:
    """The provider a case's turns go to: --provider's, which each conversation is pinned to (it must
    exist and be enabled now), else the one a turn of this chatbot chooses (app/providers/selection.py)."""
    if required is not None:
        try:
            return pin_target(conn, settings, required)
        except provider_admin.ProviderNotFound:
            raise EvalInputError(f"no provider named {required!r} (`fluxbase providers list`)") from None
        except ProviderDisabled as exc:
            raise EvalInputError(str(exc)) from None
    env_names = (provider_admin.ENV_PROVIDER_NAME, provider_admin.ENV_PROVIDER_ID)
    row = None if declared in env_names else provider_repo.for_turn(conn, declared)
    row = row or provider_admin.environment_provider(settings, table_has_default=False)
    return row.name if row else None


# -- running ------------------------------------------------------------------------------------------

def _server_url(settings: Settings, given: str | None) -> str:
    url = server_url(settings, given)
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise EvalInputError(f"the server URL {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise EvalInputError(f"the server URL must be http(s)://HOST[:PORT], e.g. http://localhost:8080 (got {url!r})")
    return url


def _run(settings: Settings, args, planned: list[_Planned]) -> list[ChatbotReport]:
    url = _server_url(settings, args.url)
    runtime = Runtime(settings, client_name="fluxbase-eval")
    try:
        executor = SqlExecutor(runtime.user_db, statement_timeout_ms=settings.sql_statement_timeout_ms,
                               max_rows=settings.sql_max_rows, max_bytes=settings.sql_max_bytes,
                               acquire_timeout_s=runtime.db_wait_seconds)
        references = ReferenceRunner(executor)
        # Every reference query is tried first: a broken one is a mistake in the file, found before
        # any tokens are spent.
        for plan in planned:
            for case in plan.cases:
                if case.expect.sql_result_equals is not None:
                    try:
                        references.run(case.expect.sql_result_equals, user_id=case.user_id, schema=plan.schema)
                    except ReferenceFailed as exc:
                        raise EvalInputError(f"{plan.source.path}:{case.line}: case {case.id}: {exc}") from None
        reports = []
        for plan in planned:
            report = ChatbotReport(plan.namespace, plan.source.name, str(plan.source.path), plan.provider)
            runner = CaseRunner(url, chatbot=plan.source.name, namespace=plan.namespace,
                                token_for=lambda user: mint(settings.jwt_secret, role="authenticated", user_id=user,
                                                            ttl_seconds=TOKEN_TTL_SECONDS),
                                service_key=settings.service_key,
                                event_timeout=settings.turn_timeout_seconds + _EVENT_SLACK_SECONDS,
                                keep_conversations=args.keep_conversations,
                                provider=plan.provider if args.provider is not None else None)
            for case in plan.cases:
                first = not report.results and not reports
                report.results.append(_one(runner, references, plan, case, url, first=first))
                if not args.json:
                    _progress(report.results[-1])
            reports.append(report)
        return reports
    finally:
        runtime.close()


def _one(runner: CaseRunner, references: ReferenceRunner, plan: _Planned, case: EvalCase, url: str, *,
         first: bool) -> CaseResult:
    try:
        run = runner.run(case)
    except SdkConnectionError:
        raise EvalInputError(f"cannot reach the server at {url}: is it running (make run)? "
                             "Use --url or FLUXBASE_URL for another address") from None
    except PinFailed as exc:
        if first:   # refused from the start (a wrong SERVICE_KEY): the run is misconfigured, nothing is judged
            raise EvalInputError(str(exc)) from None
        result = CaseResult(case, None)
        result.failure = f"could not run: {exc}"
        return result
    except TurnFailed as exc:
        result = CaseResult(case, None)
        result.failure = f"could not run: {exc}"
        return result
    reference = None
    if case.expect.sql_result_equals is not None:
        # Run again after the turn: what it is compared with is the data as the turn left it.
        try:
            reference = references.run(case.expect.sql_result_equals, user_id=case.user_id, schema=plan.schema)
        except ReferenceFailed as exc:
            reference = exc
    return judge(case, run, reference)


# -- output -------------------------------------------------------------------------------------------

def _progress(result: CaseResult) -> None:
    mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
    err.print(f"  {mark} {escape(result.case.id)}")


def _print(reports: list[ChatbotReport], totals: dict) -> None:
    for report in reports:
        table = Table(title=f"{report.namespace}/{report.name}  (provider: {report.provider or 'none'})")
        for column in ("case", "user", "result", "why"):
            table.add_column(column, overflow="fold")
        table.add_column("tokens", justify="right")
        table.add_column("latency", justify="right")
        for r in report.results:
            run = r.run
            table.add_row(escape(r.case.id), escape(r.case.user_label),
                          "[green]pass[/]" if r.passed else "[red bold]FAIL[/]", escape(r.why),
                          str(run.tokens) if run else "-",
                          f"{run.latency_ms / 1000:.2f} s" if run else "-")
        out.print(table)
    accuracy = totals["execution_accuracy"]
    line = f"{totals['passed']}/{totals['total']} cases passed"
    if accuracy is not None:
        line += (f"; execution accuracy {totals['sql_cases_equal']}/{totals['sql_cases']}"
                 f" ({accuracy * 100:.1f}%)")
    out.print(f"[bold]{line}[/]")
