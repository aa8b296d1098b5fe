"""`fluxbase storage buckets create | list`: the buckets the storage tools work in.

Objects are written by end users through the tools; buckets, and their policy, are the admin's.
"""
from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from app.cli.console import make_console
from app.db.connect import connect_owner
from app.storage import repository as repo
from app.storage.errors import InvalidName
from app.storage.validation import POLICIES, PRIVATE, check_bucket_name, check_policy

out = make_console()
err = make_console(stderr=True)


def add_parsers(sub) -> None:
    p = sub.add_parser("storage", help="storage buckets used by the storage tools")
    s = p.add_subparsers(dest="storage_command", required=True, metavar="WHAT")
    buckets = s.add_parser("buckets", help="create or list buckets")
    b = buckets.add_subparsers(dest="buckets_command", required=True, metavar="ACTION")

    create = b.add_parser("create", help="create a bucket")
    create.add_argument("name", help="2-63 lower-case letters, digits and '-'")
    create.add_argument("--policy", default=PRIVATE, choices=POLICIES,
                        help="private: each object only to its owner (default); public-read: everyone reads")
    create.set_defaults(handler=cmd_create)

    b.add_parser("list", help="list buckets with their object counts").set_defaults(handler=cmd_list)


def cmd_create(settings, args) -> int:
    try:
        name, policy = check_bucket_name(args.name), check_policy(args.policy)
    except InvalidName as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        return 2
    with connect_owner(settings) as conn:
        bucket = repo.create_bucket(conn, name, policy)
        existing = repo.get_bucket(conn, name) if bucket is None else None
        conn.commit()
    if bucket is None:
        err.print(f"[red]error:[/red] bucket {name} exists already (policy {existing.policy})")
        return 1
    out.print(f"created bucket {name} ({policy})")
    return 0


def cmd_list(settings, _args) -> int:
    with connect_owner(settings) as conn:
        rows = repo.list_buckets(conn)
    if not rows:
        out.print("no buckets (create one with `fluxbase storage buckets create NAME`)")
        return 0
    table = Table("name", "policy", "objects", "bytes", "created")
    for bucket, count, size in rows:
        table.add_row(bucket.name, bucket.policy, str(count), str(size), f"{bucket.created_at:%Y-%m-%d %H:%M}")
    out.print(table)
    return 0
