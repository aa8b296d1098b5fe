"""`fluxbase settings set KEY VALUE [--secret] [--user ID] | get KEY | list | delete KEY`: system settings,
or one user's with `--user`, read and written directly in the database (app/settings_store).

A secret's value is never printed back: `get` and `list` show it as set. A secret typed on the
command line stays in the shell's history; `--stdin` reads the value from standard input instead.
"""
from __future__ import annotations

import argparse
import json
import sys

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from app.cli.console import make_console
from app.db.connect import connect_owner
from app.secrets import scrub
from app.settings_store import repository as store
from app.settings_store.values import (
    InvalidSetting,
    as_text,
    check_description,
    check_key,
    check_secret,
    check_user_id,
    check_value,
)

out = make_console()
err = make_console(stderr=True)

SECRET_SHOWN = "(secret: set, never shown)"
# A table cell; `get` prints a value whole.
MAX_CELL = 80


def _argument(check):
    def parse(value: str) -> str:
        try:
            return check(value)
        except InvalidSetting as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
    return parse


def add_parsers(sub) -> None:
    p = sub.add_parser("settings", help="system and per-user settings for chatbot prompt templates")
    s = p.add_subparsers(dest="settings_command", required=True, metavar="ACTION")
    user_help = "a user's setting (their id, a UUID) instead of the system's"

    set_ = s.add_parser("set", help="create or replace a setting",
                        epilog="examples:\n"
                               '  fluxbase settings set pelias.endpoint "https://pelias.example.com"\n'
                               '  fluxbase settings set google.maps.api_key "user-api-key" --secret --user ID\n'
                               "  fluxbase settings set openweather.api_key --secret --stdin < key.txt\n"
                               "  fluxbase settings set limits.tiers '{\"free\": 10}' --json",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    set_.add_argument("key", metavar="KEY", type=_argument(check_key), help="e.g. pelias.endpoint")
    set_.add_argument("value", metavar="VALUE", nargs="?", help="the value (text; with --json, any JSON)")
    set_.add_argument("--secret", action="store_true", help="store it encrypted; it is never shown again")
    set_.add_argument("--user", metavar="ID", type=_argument(check_user_id), help=user_help)
    set_.add_argument("--json", action="store_true", help="VALUE is JSON (a number, true, an object, ...)")
    set_.add_argument("--stdin", action="store_true", help="read the value from standard input instead")
    set_.add_argument("--description", metavar="TEXT", help="what the setting is for")
    set_.set_defaults(handler=cmd_set)

    get = s.add_parser("get", help="print a setting's value (a secret shows as set)")
    get.add_argument("key", metavar="KEY", type=_argument(check_key))
    get.add_argument("--user", metavar="ID", type=_argument(check_user_id), help=user_help)
    get.set_defaults(handler=cmd_get)

    list_ = s.add_parser("list", help="list the system's settings, or a user's")
    list_.add_argument("--user", metavar="ID", type=_argument(check_user_id), help=user_help)
    list_.set_defaults(handler=cmd_list)

    delete = s.add_parser("delete", help="delete a setting")
    delete.add_argument("key", metavar="KEY", type=_argument(check_key))
    delete.add_argument("--user", metavar="ID", type=_argument(check_user_id), help=user_help)
    delete.set_defaults(handler=cmd_delete)


def _scope(user_id: str | None) -> str:
    return f"user {user_id}" if user_id else "system"


def _refused(message: str) -> int:
    err.print(f"[red]error:[/red] {escape(message)}")
    return 1


def _read_value(args) -> str | None:
    if args.stdin:
        if args.value is not None:
            return None
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    return args.value


def cmd_set(settings, args) -> int:
    raw = _read_value(args)
    if raw is None:
        return _refused("give VALUE, or --stdin to read it from standard input (not both)")
    if args.secret and args.json:
        return _refused("a secret is text: --json and --secret do not go together")
    with scrub.held(scrub.Scrubber({args.key: [raw] if args.secret else []})):
        try:
            description = check_description(args.description, "--description")
            if args.secret:
                plaintext = check_secret(raw, "VALUE")
            else:
                value = check_value(_json(raw) if args.json else raw, "VALUE")
        except InvalidSetting as exc:
            return _refused(str(exc))
        with connect_owner(settings) as conn:
            try:
                if args.secret:
                    store.put_secret(conn, settings.encryption_key, args.key, args.user, plaintext,
                                     description=description, keep_description=args.description is None)
                else:
                    store.put_value(conn, args.key, args.user, value, description=description,
                                    keep_description=args.description is None)
            except store.KindMismatch as exc:
                return _refused(f"{exc} (fluxbase settings delete {args.key}"
                                f"{' --user ' + args.user if args.user else ''})")
            conn.commit()
    out.print(f"set {'secret ' if args.secret else ''}{escape(args.key)} ({_scope(args.user)})")
    return 0


def _json(raw: str):
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise InvalidSetting("VALUE", "is not valid JSON (leave out --json to store it as text)") from None


def cmd_get(settings, args) -> int:
    with connect_owner(settings) as conn:
        row = store.get(conn, args.key, args.user)
    if row is None:
        return _refused(f"no setting {args.key} ({_scope(args.user)})")
    # The value alone and exactly (no markup, no wrapping), so scripts can use it; on a terminal,
    # without the control characters a user could have stored to drive the admin's terminal.
    text = SECRET_SHOWN if row.is_secret else as_text(row.value)
    print(_terminal_safe(text) if sys.stdout.isatty() else text)
    return 0


def cmd_list(settings, args) -> int:
    with connect_owner(settings) as conn:
        rows = store.list_scope(conn, args.user)
    title = "system settings" if args.user is None else f"settings of user {args.user}"
    if not rows:
        out.print(f"no {title}")
        return 0
    table = Table(title=title)
    for column in ("key", "value", "description", "updated"):
        table.add_column(column, overflow="fold")
    for row in rows:
        shown = SECRET_SHOWN if row.is_secret else _cell(as_text(row.value))
        table.add_row(Text(row.key), Text(shown), Text(_terminal_safe(row.description or "")),
                      row.updated_at.isoformat(timespec="seconds") if row.updated_at else "")
    out.print(table)
    return 0


def _terminal_safe(text: str) -> str:
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)


def _cell(text: str) -> str:
    text = " ".join(_terminal_safe(text).split())
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def cmd_delete(settings, args) -> int:
    with connect_owner(settings) as conn:
        deleted = store.delete(conn, args.key, args.user)
        conn.commit()
    if not deleted:
        return _refused(f"no setting {args.key} ({_scope(args.user)})")
    out.print(f"deleted {escape(args.key)} ({_scope(args.user)})")
    return 0
