"""`fluxbase run` itself: supervisord with the Procfile's processes in the foreground, started in the
background, stopped."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.cli.supervise.config import (
    STARTRETRIES,
    STARTSECS,
    STOP_DEADLINE,
    STOPWAITSECS,
    Layout,
    render_config,
)
from app.cli.supervise.errors import SupervisorError
from app.cli.supervise.output import _LOUD, LogFollower, PrefixedOutput
from app.cli.supervise.processes import (
    RunLock,
    _die_with_parent,
    alive,
    leftover_supervisord,
    running_pid,
    stop_leftover_supervisord,
    sweep_session,
)
from app.cli.supervise.procfile import ProcfileEntry


@dataclass
class Supervisor:
    """One `fluxbase run`: supervisord with the Procfile's processes, in the foreground."""
    layout: Layout
    entries: list[ProcfileEntry]
    workdir: Path
    env: dict[str, str]
    log_file: Path | None = None

    def run(self) -> int:
        lock = RunLock(self.layout)
        if not lock.acquire():
            raise SupervisorError(f"already running (pid {running_pid(self.layout)}); stop it with `fluxbase stop`")
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> int:
        names = [e.name for e in self.entries]
        out = PrefixedOutput(names, self.log_file)
        leftover = leftover_supervisord(self.layout)
        if leftover is not None:
            out.say(f"a supervisord of an earlier run is still up (pid {leftover}); stopping it first")
            stop_leftover_supervisord(self.layout, leftover)
        self.layout.log_dir.mkdir(parents=True, exist_ok=True)
        config = render_config(self.layout, self.entries, self.workdir, secrets.token_urlsafe(24))
        fd = os.open(self.layout.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(config)
        for stale in (self.layout.socket, self.layout.supervisord_pidfile):  # left by a supervisord that was killed
            try:
                stale.unlink()
            except FileNotFoundError:
                pass
        followers = {name: LogFollower(self.layout.program_log(name)) for name in names}
        followers["supervisor"] = LogFollower(self.layout.supervisord_log)

        stop_requested: list[tuple[float, str]] = []
        proc: subprocess.Popen | None = None

        def request_stop(signum, _frame) -> None:
            # Only note it and pass it on: printing here could re-enter a write of the main loop.
            stop_requested.append((time.monotonic(), signal.Signals(signum).name))
            if proc is not None and proc.returncode is None:
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, request_stop)

        with open(self.layout.supervisord_output, "ab") as early:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(self.layout.config)],
                cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL, stdout=early, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent)
        out.say(f"supervisord (pid {proc.pid}) runs {', '.join(names)} from {self.workdir / 'Procfile'}; "
                f"a process that dies is restarted; logs: {self.layout.log_dir}/")
        if stop_requested:  # a signal arrived before proc was assigned
            proc.send_signal(signal.SIGTERM)
        killed = False
        announced = 0
        try:
            while True:
                if len(stop_requested) > announced:
                    out.say(f"{stop_requested[-1][1]}: stopping {', '.join(names)} (SIGTERM, SIGKILL after "
                            f"{STOPWAITSECS} s)" if not announced else "still stopping; waiting for them to exit")
                    announced = len(stop_requested)
                self._pump(followers, out)
                if proc.poll() is not None:
                    break
                if stop_requested and not killed and time.monotonic() - stop_requested[0][0] > STOP_DEADLINE:
                    out.say(f"supervisord did not stop within {STOP_DEADLINE} s; killing it", loud=True)
                    proc.kill()
                    killed = True
                time.sleep(0.1)
        finally:
            if proc.poll() is None:  # only when this loop failed: stop supervisord the orderly way first
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self._pump(followers, out)
            for follower in followers.values():
                follower.close()
            left = sweep_session(proc.pid)
            if left:
                out.say(f"killed {len(left)} process(es) left behind: {', '.join(map(str, left))}", loud=True)
        if stop_requested:
            out.say("stopped")
            return 0
        early_text = self.layout.supervisord_output.read_text(errors="replace").strip().splitlines()[-5:]
        out.say(f"supervisord exited with code {proc.returncode}", loud=True)
        for line in early_text:
            out.say(line, loud=True)
        return 1

    def _pump(self, followers: dict[str, LogFollower], out: PrefixedOutput) -> None:
        wrote = False
        for name, follower in followers.items():
            for line in follower.lines():
                loud = name == "supervisor" and bool(_LOUD.search(line))
                out.write(name, line, loud=loud)
                wrote = True
                if name == "supervisor" and b"gave up:" in line:
                    out.write(name, (f"{STARTRETRIES + 1} starts in a row ended within {STARTSECS} s: it is no "
                                     f"longer restarted; see {self.layout.log_dir}/; "
                                     f"`fluxbase ps` shows it FATAL; fix it and run `fluxbase run` again"
                                     ).encode(), loud=True)
        if wrote:
            out.flush()


def start_background(layout: Layout, args: list[str], env: dict[str, str], timeout: float = 60) -> int:
    """Start `fluxbase run ARGS --log-file ...` detached (its own session); returns its pid once it holds
    the pid file. Raises SupervisorError when it exits first."""
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.combined_log, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "run", "--log-file", str(layout.combined_log),
                                 *args], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = layout.combined_log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SupervisorError(f"`fluxbase run` exited with code {proc.returncode}: " + " / ".join(tail))
        if running_pid(layout) == proc.pid and layout.supervisord_pidfile.exists():
            return proc.pid
        time.sleep(0.1)
    raise SupervisorError(f"`fluxbase run` (pid {proc.pid}) did not start within {timeout} s; "
                          f"see {layout.combined_log}")


def stop_running(layout: Layout, timeout: float = STOP_DEADLINE + 15) -> str:
    """Stop the `fluxbase run` of this DATA_DIR and everything it started; says what it did."""
    pid = running_pid(layout)
    if pid is None:
        leftover = leftover_supervisord(layout)
        if leftover is None:
            return "not running"
        stop_leftover_supervisord(layout, leftover)
        return f"stopped a supervisord left by an earlier run (pid {leftover})"
    supervisord = leftover_supervisord(layout)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while running_pid(layout) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if running_pid(layout) is None and (supervisord is None or not alive(supervisord)):
        return f"stopped (pid {pid})"
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if supervisord is not None:
        try:
            os.kill(supervisord, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sweep_session(supervisord, grace=2)
    return f"killed (pid {pid}): it did not stop within {timeout} s"
