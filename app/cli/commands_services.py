"""services start/stop/status, setup (everything `make run` needs before the processes), health and doctor."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from rich.markup import escape

from app.chatbots.sync_service import sync_directory
from app.cli.console import make_console
from app.cli.doctor import run_doctor
from app.db.connect import connect_owner
from app.db.migrate import migrate
from app.demo.execution import ensure_execution_demo
from app.demo.knowledge import load_demo_knowledge
from app.demo.loader import demo_present, load_demo
from app.demo.storage import ensure_demo_buckets
from app.providers.first_run import ensure_provider
from app.services.embedded import (
    embedded_postgres,
    embedded_redis,
    start_embedded,
    stop_embedded,
)

out = make_console()


def add_parsers(sub) -> None:
    p = sub.add_parser("services", help="embedded PostgreSQL and Redis (used when DATABASE_URL/REDIS_URL are unset)")
    s = p.add_subparsers(dest="services_command", required=True, metavar="ACTION")
    s.add_parser("start", help="start the embedded services").set_defaults(handler=cmd_start)
    s.add_parser("stop", help="stop the embedded services").set_defaults(handler=cmd_stop)
    s.add_parser("status", help="show which embedded services run").set_defaults(handler=cmd_status)

    p = sub.add_parser("setup", help="start embedded services, migrate, load the demo, sync chatbots")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo shop")
    p.set_defaults(handler=cmd_setup)

    p = sub.add_parser("health", help="ask the running web process for /health")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="retry until healthy or this deadline")
    p.set_defaults(handler=cmd_health)

    p = sub.add_parser("doctor", help="check every dependency and say what is wrong")
    p.set_defaults(handler=lambda settings, _args: run_doctor(settings))


def cmd_start(settings, _args) -> int:
    for line in start_embedded(settings) or ["nothing to start: DATABASE_URL and REDIS_URL are set"]:
        out.print(f"started {line}" if " " in line and not line.startswith("nothing") else line)
    return 0


def cmd_stop(settings, _args) -> int:
    stop_embedded(settings)
    out.print("embedded services stopped")
    return 0


def cmd_status(settings, _args) -> int:
    pg, rd = embedded_postgres(settings), embedded_redis(settings)
    out.print(f"postgresql: {'external' if pg is None else ('running' if pg.running() else 'stopped')}")
    out.print(f"redis:      {'external' if rd is None else ('running' if rd.running() else 'stopped')}")
    return 0


def cmd_setup(settings, args) -> int:
    for line in start_embedded(settings):
        out.print(f"started {line}")
    applied = migrate(settings)
    out.print(f"migrations: {len(applied)} applied")
    # The demo goes only into the embedded database; a user's own database gets it on request.
    if settings.embedded_postgres and not args.no_demo and not demo_present(settings):
        load_demo(settings)
        out.print("demo shop loaded")
    if settings.embedded_postgres and not args.no_demo:
        # Before the chatbot sync, so support-assistant's bases exist when its warnings are computed.
        out.print(load_demo_knowledge(settings).summary())
        created = ensure_demo_buckets(settings)
        if created:
            out.print(f"demo storage buckets: created {', '.join(created)}")
        # Idempotent, so a database whose shop predates the execution tools gets their demo too.
        ensure_execution_demo(settings)
    report = sync_directory(settings)
    out.print(f"chatbots: {report.summary_line()}")
    with connect_owner(settings) as conn:
        out.print(escape(ensure_provider(conn, settings)))
    return 0


def cmd_health(settings, args) -> int:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    url = f"http://{host}:{settings.port}/health"
    deadline = time.monotonic() + args.wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                out.print(f"healthy: {url}")
                return 0
        except urllib.error.HTTPError as exc:
            last = f"{exc.code}: {json.loads(exc.read() or b'{}')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if time.monotonic() >= deadline:
            out.print(f"[red]not healthy[/red] {url}: {last}")
            return 1
        time.sleep(0.5)
