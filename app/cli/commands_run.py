"""run, stop, ps: the Procfile's processes under a supervisor that restarts them (development)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from rich.markup import escape

from app.cli.console import make_console
from app.cli.supervise.config import Layout
from app.cli.supervise.errors import SupervisorError
from app.cli.supervise.processes import running_pid
from app.cli.supervise.procfile import PROJECT_ROOT, read_procfile, select_processes
from app.cli.supervise.supervisor import Supervisor, start_background, stop_running
from app.metrics import clear_metrics_dir
from config import environment

out = make_console()

ALREADY_RUNNING = 3  # `make run` leaves the embedded services of the running instance alone


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="run the Procfile's processes, restarting any that dies (development)")
    p.add_argument("processes", nargs="*", metavar="PROCESS",
                   help="Procfile entries to run (default: all but release)")
    p.add_argument("--background", action="store_true",
                   help="detach; output goes to DATA_DIR/logs/processes.log; stop with `fluxbase stop`")
    p.add_argument("--procfile", type=Path, default=None, help="default: the project's Procfile")
    p.add_argument("--log-file", type=Path, default=None, help=argparse.SUPPRESS)  # what --background starts
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("stop", help="stop what `fluxbase run --background` started (waits until all exited)")
    p.set_defaults(handler=cmd_stop)

    p = sub.add_parser("ps", help="state and pid of each process `fluxbase run` supervises")
    p.set_defaults(handler=cmd_ps)


def _child_env(settings) -> dict[str, str]:
    env = environment.inherited()
    # The processes find gunicorn, celery and fluxbase next to this interpreter, and agree on DATA_DIR
    # whatever their working directory.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["DATA_DIR"] = str(settings.data_dir)
    return env


def cmd_run(settings, args) -> int:
    layout = Layout(settings.data_dir)
    procfile = (args.procfile or PROJECT_ROOT / "Procfile").resolve()
    try:
        entries = select_processes(read_procfile(procfile), args.processes)
        if args.background:
            pid = running_pid(layout)
            if pid is not None:
                out.print(f"already running (pid {pid}); logs: {layout.combined_log}; stop: fluxbase stop",
                          markup=False)
                return 0
            passed = [*args.processes, *(["--procfile", str(procfile)] if args.procfile else [])]
            pid = start_background(layout, passed, _child_env(settings))
            out.print(f"started in the background (pid {pid}): {', '.join(e.name for e in entries)}; "
                      f"logs: {layout.combined_log}; stop: fluxbase stop", markup=False)
            return 0
        if running_pid(layout) is not None:
            out.print(f"already running (pid {running_pid(layout)}); stop it with `fluxbase stop`")
            return ALREADY_RUNNING
        # The values of an earlier run's processes (their pids are gone) would be added to this run's.
        clear_metrics_dir(settings.metrics_dir)
        supervisor = Supervisor(layout, entries, procfile.parent, _child_env(settings), log_file=args.log_file)
        return supervisor.run()
    except SupervisorError as exc:
        out.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1


def cmd_stop(settings, _args) -> int:
    try:
        out.print(stop_running(Layout(settings.data_dir)), markup=False)
    except SupervisorError as exc:
        out.print(f"[red]error:[/red] {escape(str(exc))}")
        return 1
    return 0


def cmd_ps(settings, _args) -> int:
    layout = Layout(settings.data_dir)
    if running_pid(layout) is None:
        out.print("not running")
        return 1
    done = subprocess.run(layout.ctl_command("status"), capture_output=True, text=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    # supervisorctl status exits 3 when a process is not RUNNING
    return 0 if done.returncode == 0 else 1
