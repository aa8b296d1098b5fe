"""How `fluxbase chat` shows one turn: text as it streams, progress as a spinner, query results as
tables under their SQL (pretty-printed; the statement that ran is in the event, unchanged)."""
from __future__ import annotations

import json
from typing import Any

from fluxbase_sdk import (
    ApprovalRequired,
    ApprovalResult,
    Cancelled,
    ChatEvent,
    Content,
    Done,
    Error,
    EventsLost,
    Progress,
    QueryResult,
    ToolResult,
)
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.syntax import Syntax
from rich.table import Table

from app.sql.pretty import pretty_sql

# A terminal is no place for a thousand rows: the first ones, and a count of the rest.
MAX_TABLE_ROWS = 20
MAX_CELL_CHARS = 60


class TurnView:
    """Renders the events of one turn, in order, on `console`."""

    def __init__(self, console: Console):
        self.console = console
        self._status: Status | None = None
        self._mid_line = False     # streamed text without its closing newline yet
        self._streamed: list[str] = []

    def show(self, event: ChatEvent) -> None:
        if isinstance(event, Progress):
            self._spin(event.message or event.step or "working...")
        elif isinstance(event, Content):
            self._stop_spinner()
            self._streamed.append(event.delta)
            # Plain writes: the model's text is never read as rich markup.
            self.console.file.write(event.delta)
            self.console.file.flush()
            self._mid_line = not event.delta.endswith("\n")
        elif isinstance(event, QueryResult):
            self._block()
            self._query_result(event)
        elif isinstance(event, ToolResult):
            self._block()
            text = event.error or _short(json.dumps(event.data, default=str), 200)
            self.console.print(f"[dim]tool {escape(event.tool)}:[/] {escape(text)}")
        elif isinstance(event, ApprovalRequired):
            self._block()
            self._approval(event)
        elif isinstance(event, ApprovalResult):
            self._block()
            colour = "green" if event.decision == "approved" else "yellow"
            why = f": {event.reason}" if event.reason else ""
            self.console.print(f"[{colour}]{escape(event.decision)}{escape(why)}[/]")
        elif isinstance(event, EventsLost):
            self._block()
            self.console.print("[yellow]some of the answer was lost on the way; the stored answer follows[/]")
        elif isinstance(event, Done | Cancelled | Error):
            self._end(event)

    def interrupted(self) -> None:
        self._block()
        self.console.print("[yellow]cancelling... (Ctrl-C again to quit)[/]")

    def close(self) -> None:
        self._stop_spinner()

    # -- pieces -----------------------------------------------------------------------------------

    def _end(self, event: ChatEvent) -> None:
        recovered = getattr(event, "recovered", False) and isinstance(getattr(event, "content", None), str)
        if recovered and event.content != "".join(self._streamed):
            self._block()
            self.console.file.write(event.content + "\n")
        self._block()
        if isinstance(event, Done):
            total = (event.usage or {}).get("total_tokens")
            if total is not None:
                self.console.print(f"[dim]({total} tokens)[/]")
        elif isinstance(event, Cancelled):
            self.console.print("[yellow]cancelled[/]")
        elif isinstance(event, Error):
            wait = f", retry in {event.retry_after:g} s" if event.retry_after else ""
            self.console.print(f"[red]error:[/] {escape(event.error)} ({escape(event.code or '?')}{wait})")

    def _approval(self, event: ApprovalRequired) -> None:
        """What the call would do (docs/approval.md), before the user is asked to run it."""
        self.console.print(f"[bold yellow]approval needed:[/] {escape(event.tool)}: {escape(event.description)}")
        if event.sql:
            self.console.print(Syntax(event.sql, "sql", word_wrap=True, background_color="default"))
        preview = event.preview or {}
        if preview.get("kind") == "sql":
            verb = {"INSERT": "inserts", "UPDATE": "changes", "DELETE": "deletes"}.get(preview.get("operation"),
                                                                                        "returns")
            self.console.print(rows_table(preview.get("rows") or [], preview.get("row_count") or 0,
                                          f"{verb} {preview.get('row_count', 0)} row(s)"))
        elif preview.get("kind") == "request":
            self.console.print(f"{escape(str(preview.get('method')))} {escape(str(preview.get('url')))}")
            for name, value in (preview.get("headers") or {}).items():
                self.console.print(f"[dim]{escape(str(name))}: {escape(str(value))}[/]")
            if preview.get("body") is not None:
                self.console.print(escape(_short(json.dumps(preview["body"], default=str), 2000)))
        elif preview:
            self.console.print(escape(_short(json.dumps(preview.get("arguments"), default=str), 2000)))
        if event.expires_at:
            self.console.print(f"[dim](expires at {escape(event.expires_at)})[/]")

    def _query_result(self, event: QueryResult) -> None:
        self.console.print(Syntax(pretty_sql(event.query), "sql", word_wrap=True, background_color="default"))
        if event.error:
            self.console.print(f"[red]{escape(event.error)}[/]")
            return
        self.console.print(result_table(event))

    def _spin(self, message: str) -> None:
        if self._mid_line:
            # Text is streaming: a spinner would draw over it.
            return
        if self._status is None:
            self._status = self.console.status(escape(message), spinner="dots")
            self._status.start()
        else:
            self._status.update(escape(message))

    def _stop_spinner(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None

    def _block(self) -> None:
        """Start a block on a fresh line, the spinner gone."""
        self._stop_spinner()
        if self._mid_line:
            self.console.file.write("\n")
            self.console.file.flush()
            self._mid_line = False


def result_table(event: QueryResult) -> Table:
    return rows_table(event.data or [], event.row_count, event.summary or f"{event.row_count} rows")


def rows_table(rows: list[dict], row_count: int, caption: str) -> Table:
    columns: list[str] = []
    for row in rows[:MAX_TABLE_ROWS]:
        for key in row:
            if key not in columns:
                columns.append(key)
    shown = min(len(rows), MAX_TABLE_ROWS)
    if row_count > shown:
        caption += f" (first {shown} of {row_count} shown)"
    table = Table(caption=escape(caption), show_lines=False)
    for column in columns:
        table.add_column(escape(str(column)), overflow="fold")
    for row in rows[:MAX_TABLE_ROWS]:
        table.add_row(*(escape(_cell(row.get(column))) for column in columns))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return _short(text, MAX_CELL_CHARS)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
