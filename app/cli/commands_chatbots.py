"""`fluxbase chatbots sync` and `fluxbase chatbots list`."""
from __future__ import annotations

from datetime import timezone
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from app.chatbots import repository as repo
from app.chatbots.sync_service import SyncReport, sync_directory
from app.cli.console import make_console
from app.db.connect import connect_owner

out = make_console()

_STYLES = {"created": "green", "updated": "yellow", "deleted": "red", "unchanged": "dim"}


def add_parsers(sub) -> None:
    p = sub.add_parser("chatbots", help="chatbot definitions: sync files into the database, list them")
    s = p.add_subparsers(dest="chatbots_command", required=True, metavar="ACTION")

    sync = s.add_parser("sync", help="sync definition files into the database")
    sync.add_argument("--dir", type=Path, default=None, metavar="D", help="chatbots directory (default CHATBOTS_DIR)")
    sync.add_argument("--namespace", metavar="N", help="sync only this namespace")
    sync.add_argument("--delete-missing", action="store_true",
                      help="delete file-defined chatbots of the synced namespaces that have no file any more")
    sync.add_argument("--dry-run", action="store_true", help="report what would change and change nothing")
    sync.set_defaults(handler=cmd_sync)

    listing = s.add_parser("list", help="list the chatbots in the database")
    listing.add_argument("--namespace", metavar="N", help="only this namespace")
    listing.set_defaults(handler=cmd_list)


def cmd_sync(settings, args) -> int:
    report = sync_directory(settings, directory=args.dir, namespace=args.namespace,
                            delete_missing=args.delete_missing, dry_run=args.dry_run)
    print_report(report)
    return 0 if report.ok else 1


def print_report(report: SyncReport) -> None:
    table = Table(title="chatbot sync" + (" (dry run: nothing was changed)" if report.dry_run else ""))
    table.add_column("change", no_wrap=True)
    table.add_column("chatbot", no_wrap=True)
    detailed = bool(report.errors or report.warnings)
    if detailed:
        table.add_column("detail", overflow="fold")
    for kind in ("created", "updated", "deleted", "unchanged"):
        for name in getattr(report, kind):
            table.add_row(f"[{_STYLES[kind]}]{kind}[/]", escape(name), *([""] if detailed else []))
    for warning in report.warnings:
        table.add_row("[yellow bold]warning[/]", escape(warning["name"]), escape(warning["warning"]))
    for error in report.errors:
        # Error text quotes file content, which may look like rich markup.
        table.add_row("[red bold]error[/]", escape(error["name"]), escape(error["error"]))
    if table.row_count:
        out.print(table)
    out.print(report.summary_line())


def cmd_list(settings, args) -> int:
    with connect_owner(settings) as conn:
        rows = repo.list_chatbots(conn, namespace=args.namespace)
    table = Table(title="chatbots")
    # Names are what a user copies into the next command: never wrap or cut them; the title gives way.
    table.add_column("namespace", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True, ratio=1)
    for column in ("enabled", "public", "version", "source", "updated (UTC)"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row.namespace, row.name, escape(row.title or ""), _yes(row.enabled), _yes(row.is_public),
                      str(row.version), row.source, row.updated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M"))
    out.print(table)
    out.print(f"{len(rows)} chatbot(s)")
    return 0


def _yes(value: bool) -> str:
    return "yes" if value else "[dim]no[/]"
