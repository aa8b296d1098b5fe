"""migrate, token, demo load."""
from __future__ import annotations

import re

from app.auth.tokens import mint
from app.cli.console import make_console
from app.db.migrate import migrate
from app.demo.loader import DemoAlreadyLoaded, load_demo

out = make_console()
err = make_console(stderr=True)

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r}: use e.g. 30m, 1h, 7d")
    return int(match.group(1)) * _UNITS[match.group(2)]


def add_parsers(sub) -> None:
    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("token", help="mint a JWT for development")
    p.add_argument("--user", help="user id (UUID); required for role authenticated")
    p.add_argument("--role", default="authenticated", choices=["authenticated", "anon", "service_role"])
    p.add_argument("--expires", default="1h", help="lifetime, e.g. 30m, 1h, 7d (default 1h)")
    p.set_defaults(handler=cmd_token)

    p = sub.add_parser("demo", help="the demo shop database")
    demo_sub = p.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    load = demo_sub.add_parser("load", help="load the demo shop (tables, RLS policies, two users)")
    load.set_defaults(handler=cmd_demo_load)


def cmd_migrate(settings, _args) -> int:
    applied = migrate(settings)
    out.print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else "; up to date"))
    return 0


def cmd_token(settings, args) -> int:
    try:
        ttl = parse_duration(args.expires)
        token = mint(settings.jwt_secret, role=args.role, user_id=args.user, ttl_seconds=ttl)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        return 2
    print(token)
    return 0


def cmd_demo_load(settings, _args) -> int:
    try:
        load_demo(settings)
    except DemoAlreadyLoaded as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        return 1
    out.print("demo shop loaded (users alice a11ce000-0000-4000-8000-000000000001, bob b0b00000-0000-4000-8000-000000000002)")
    return 0
