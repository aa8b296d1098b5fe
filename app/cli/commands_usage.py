"""`fluxbase usage [--chatbot NAME] [--user ID] [--days N]`: requests and tokens per UTC day, chatbot and
user, read from the database (ai.usage_daily, the same rows as GET /api/v1/admin/ai/usage).
"""
from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta

from psycopg.rows import dict_row
from rich.markup import escape
from rich.table import Table

from app.chat import usage
from app.chatbots.spec import is_valid_name
from app.cli.console import make_console
from app.db.connect import connect_owner

out = make_console()

MAX_DAYS = 3660
# A terminal table; the API pages through more.
MAX_ROWS = 1000


def _days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, not {value!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_DAYS}")
    return days


def _user(value: str) -> str:
    if value.lower() == usage.ANONYMOUS:
        return usage.ANONYMOUS
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a user id (UUID) or 'anonymous', not {value!r}") from None


def _chatbot(value: str) -> tuple[str | None, str]:
    namespace, _, name = value.rpartition("/")
    if not is_valid_name(name) or (namespace and not is_valid_name(namespace)):
        raise argparse.ArgumentTypeError(f"must be NAME or NAMESPACE/NAME (lower-case letters, digits, '-' and '_'), "
                                         f"not {value!r}")
    return namespace or None, name


def add_parsers(sub) -> None:
    p = sub.add_parser("usage", help="requests and tokens per day, chatbot and user")
    p.add_argument("--chatbot", type=_chatbot, metavar="NAME", help="only this chatbot (NAME or NAMESPACE/NAME)")
    p.add_argument("--user", type=_user, metavar="ID", help="only this user (a UUID, or 'anonymous')")
    p.add_argument("--days", type=_days, default=7, metavar="N", help="the last N UTC days, today included (default 7)")
    p.set_defaults(handler=cmd_usage)


def cmd_usage(settings, args) -> int:
    namespace, name = args.chatbot or (None, None)
    today = datetime.now(UTC).date()
    where = usage.UsageFilter(namespace=namespace, chatbot=name, user_key=args.user,
                              since=today - timedelta(days=args.days - 1))
    with connect_owner(settings, row_factory=dict_row) as conn:
        report = usage.usage_report(conn, where, limit=MAX_ROWS)
    period = "today (UTC)" if args.days == 1 else f"the last {args.days} days (UTC, today included)"
    if not report.rows:
        out.print(f"no usage in {period}")
        return 0
    table = Table(title=f"usage, {period}")
    for column in ("day", "chatbot", "user", "requests", "prompt", "completion", "total"):
        table.add_column(column, no_wrap=True, justify="right" if column in ("requests", "prompt", "completion",
                                                                             "total") else "left")
    for row in report.rows:
        table.add_row(row.day.isoformat(), escape(f"{row.namespace}/{row.chatbot}"), row.user_id or usage.ANONYMOUS,
                      *_counts(row.requests, row.prompt_tokens, row.completion_tokens, row.total_tokens,
                               row.estimated_requests))
    totals = report.totals
    table.add_section()
    table.add_row("[bold]total[/]", "", "", *_counts(totals.requests, totals.prompt_tokens, totals.completion_tokens,
                                                    totals.total_tokens, totals.estimated_requests))
    out.print(table)
    if totals.estimated_requests:
        out.print("* includes counts the server estimated because the provider reported none")
    if totals.rows > len(report.rows):
        out.print(f"{totals.rows - len(report.rows)} more row(s) not shown (the total counts them); "
                  "narrow with --chatbot, --user or --days")
    return 0


def _counts(requests: int, prompt: int, completion: int, total: int, estimated: int) -> list[str]:
    return [str(requests), str(prompt), str(completion), str(total) + (" *" if estimated else "")]
