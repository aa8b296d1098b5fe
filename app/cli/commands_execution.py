"""`fluxbase execution ...`: the allow-lists of the execution tools (exposed RPC functions, HTTP functions).

Jobs are registered in code (app/jobs_registry.py); `list` shows them beside the allow-lists.
"""
from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from app.cli.console import make_console
from app.db.connect import connect_owner
from app.execution import admin
from app.jobs_registry import JOBS

out = make_console()
err = make_console(stderr=True)


def add_parsers(sub) -> None:
    p = sub.add_parser("execution", help="what invoke_rpc, invoke_function and submit_job may reach")
    s = p.add_subparsers(dest="execution_command", required=True, metavar="ACTION")

    listing = s.add_parser("list", help="exposed functions, HTTP functions and jobs of a namespace")
    listing.add_argument("namespace", nargs="?", default="default")
    listing.set_defaults(handler=cmd_list)

    expose = s.add_parser("expose-rpc", help="expose a PostgreSQL function to a namespace's chatbots")
    expose.add_argument("namespace")
    expose.add_argument("function", metavar="SCHEMA.FUNCTION")
    expose.add_argument("--description", default="")
    expose.add_argument("--allow-security-definer", action="store_true",
                        help="allow a SECURITY DEFINER function (it runs with its owner's rights, past RLS)")
    expose.set_defaults(handler=cmd_expose)

    unexpose = s.add_parser("unexpose-rpc", help="stop exposing a function")
    unexpose.add_argument("namespace")
    unexpose.add_argument("function", metavar="SCHEMA.FUNCTION")
    unexpose.set_defaults(handler=cmd_unexpose)

    add = s.add_parser("add-function", help="register (or replace) an HTTP function for a namespace's chatbots")
    add.add_argument("namespace")
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument("--methods", default="POST", help="comma list of GET, POST, PUT, PATCH, DELETE (default POST)")
    add.add_argument("--description", default="")
    add.set_defaults(handler=cmd_add_function)

    remove = s.add_parser("remove-function", help="remove an HTTP function")
    remove.add_argument("namespace")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove_function)


def _refused(exc: Exception) -> int:
    err.print(f"[red]error:[/red] {escape(str(exc))}")
    return 2


def cmd_list(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            functions, http = admin.listing(conn, args.namespace)
    except admin.InvalidEntry as exc:
        return _refused(exc)
    table = Table("kind", "name", "detail", "description", title=f"execution tools in {args.namespace}")
    for f in functions:
        table.add_row("rpc", f.qualified, "SECURITY DEFINER allowed" if f.allow_security_definer else "",
                      escape(f.description))
    for h in http:
        table.add_row("http", h.name, escape(f"{'/'.join(h.methods)} {h.url}"), escape(h.description))
    for name, job in JOBS.items():
        if job.allows(args.namespace):
            table.add_row("job", name, job.entry_point, escape(job.description))
    out.print(table)
    return 0


def cmd_expose(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            function = admin.expose_rpc(conn, args.namespace, args.function, args.description,
                                        args.allow_security_definer)
            conn.commit()
    except admin.InvalidEntry as exc:
        return _refused(exc)
    out.print(f"exposed {function.qualified} to {args.namespace} (grant EXECUTE on it to authenticated/anon "
              "as the end users need)", markup=False)
    return 0


def cmd_unexpose(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            removed = admin.unexpose_rpc(conn, args.namespace, args.function)
            conn.commit()
    except admin.InvalidEntry as exc:
        return _refused(exc)
    if not removed:
        err.print(f"{escape(args.function)} is not exposed to {escape(args.namespace)}")
        return 1
    out.print(f"{args.function} is no longer exposed to {args.namespace}", markup=False)
    return 0


def cmd_add_function(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            function = admin.add_http_function(conn, args.namespace, args.name, args.url, args.methods.split(","),
                                               args.description)
            conn.commit()
    except admin.InvalidEntry as exc:
        return _refused(exc)
    out.print(f"registered {function.name} ({'/'.join(function.methods)} {function.url}) for {args.namespace}",
              markup=False)
    return 0


def cmd_remove_function(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            removed = admin.remove_http_function(conn, args.namespace, args.name)
            conn.commit()
    except admin.InvalidEntry as exc:
        return _refused(exc)
    if not removed:
        err.print(f"no function {escape(args.name)} in {escape(args.namespace)}")
        return 1
    out.print(f"removed {args.name} from {args.namespace}", markup=False)
    return 0
