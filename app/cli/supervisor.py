"""The development process supervisor behind `fluxbase run`: the Procfile's processes under supervisord.

supervisord (pinned in requirements.txt) does the supervising: it starts each Procfile process in
its own process group, restarts one that dies (a process that dies within STARTSECS of its start is
retried with a growing delay of 1, 2, 3 ... s and given up after STARTRETRIES such fast crashes), and
stops whole process groups with SIGTERM, then SIGKILL after STOPWAITSECS.

This module adds what supervisord does not do: its config is generated into DATA_DIR from the
Procfile, which stays the one source of the commands; each process's log file is followed and printed
with a name prefix, as honcho did; supervisord runs in a session of its own (so Ctrl-C reaches only
`fluxbase run`, which asks supervisord to stop everything) and, should anything outlive it, every
process of that session is killed before `fluxbase run` returns.
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import pwd
import re
import resource
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GROUP = "fluxbase"
EXCLUDED_BY_DEFAULT = ("release",)  # run once per deploy (`fluxbase setup` migrates), never supervised

STARTSECS = 5  # a process must stay up this long to count as started
STARTRETRIES = 5  # fast crashes in a row before supervisord gives up on a process (state FATAL)
STOPWAITSECS = 20  # SIGTERM, then SIGKILL to the process group after this long
STOP_DEADLINE = STOPWAITSECS + 15  # past this, supervisord itself is killed and its session swept

PROGRAM_LOG_BYTES = "10MB"
PROGRAM_LOG_BACKUPS = 3
COMBINED_LOG_BYTES = 20 * 1024 * 1024

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_SHELL_OPERATORS = {";", "&", "&&", "|", "||", ";;", "(", ")"}  # a list or pipeline: no exec
_UNIX_SOCKET_MAX = 100  # sun_path holds 108 bytes


class SupervisorError(Exception):
    """A problem the user can fix, printed as one line."""


# -- the Procfile --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProcfileEntry:
    name: str
    command: str

    def shell_command(self) -> str:
        """What /bin/sh -c runs: `exec` a simple command, so the supervised pid is the process itself."""
        try:
            lexer = shlex.shlex(self.command, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError as exc:
            raise SupervisorError(f"Procfile process {self.name!r}: cannot parse its command: {exc}") from None
        if any(token in _SHELL_OPERATORS for token in tokens) or "`" in self.command or "$(" in self.command:
            return self.command  # a compound command: sh stays its parent; stopping the group still stops it
        return f"exec {self.command}"


def read_procfile(path: Path) -> list[ProcfileEntry]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SupervisorError(f"no Procfile at {path}") from None
    entries: list[ProcfileEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _PROCFILE_LINE.match(line)
        if not match:
            raise SupervisorError(f"{path}:{number}: not a `name: command` line: {raw!r}")
        entries.append(ProcfileEntry(match.group(1), match.group(2).strip()))
    return entries


def select_processes(entries: list[ProcfileEntry], names: list[str]) -> list[ProcfileEntry]:
    if not names:
        chosen = [e for e in entries if e.name not in EXCLUDED_BY_DEFAULT]
    else:
        known = {e.name: e for e in entries}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SupervisorError(f"not in the Procfile: {', '.join(unknown)} (it has {', '.join(known)})")
        chosen = [known[n] for n in dict.fromkeys(names)]
    if not chosen:
        raise SupervisorError("no process to run")
    return chosen


# -- where things live ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Layout:
    """Files of one supervisor instance, all under DATA_DIR."""
    data_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "supervisor"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def pidfile(self) -> Path:
        """pid of `fluxbase run`, locked (flock) for as long as it runs."""
        return self.run_dir / "run.pid"

    @property
    def supervisord_pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def supervisord_log(self) -> Path:
        return self.log_dir / "supervisord.log"

    @property
    def supervisord_output(self) -> Path:
        """supervisord's own stdout/stderr: only errors from before its log file is open land here."""
        return self.run_dir / "supervisord.out"

    @property
    def combined_log(self) -> Path:
        return self.log_dir / "processes.log"

    @property
    def socket(self) -> Path:
        path = self.run_dir / "supervisor.sock"
        if len(str(path)) <= _UNIX_SOCKET_MAX:
            return path
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(f"/tmp/fluxbase-supervisor-{os.getuid()}-{digest}.sock")

    def program_log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def ctl_command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.config), *args]


# -- the supervisord config ----------------------------------------------------------------------

def _value(text: str, what: str) -> str:
    """A value for supervisord's ini format: `%` is its interpolation character, and a `;` or `#`
    after whitespace starts a comment there (quotes do not protect it)."""
    if "\n" in text or re.search(r"\s[;#]", text):
        raise SupervisorError(f"{what} contains ' ;' or ' #', which supervisord's config format would cut "
                              f"short; write it without the space (e.g. 'a; b'): {text!r}")
    return text.replace("%", "%%")


def _minfds() -> int:
    """File descriptors the processes may open (supervisord raises its soft limit, children inherit it):
    each web worker holds up to WEB_WORKER_CONNECTIONS sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    return want if soft == resource.RLIM_INFINITY else max(soft, want)


def render_config(layout: Layout, entries: list[ProcfileEntry], workdir: Path, password: str) -> str:
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
    lines = [
        f"; generated by `fluxbase run` from {workdir / 'Procfile'} at each start; edits are overwritten",
        "[supervisord]",
        "nodaemon=true",
        "silent=true",  # `fluxbase run` prints the log file, with a prefix
        f"logfile={_value(str(layout.supervisord_log), 'DATA_DIR')}",
        "logfile_maxbytes=5MB",
        "logfile_backups=2",
        "loglevel=info",
        f"pidfile={_value(str(layout.supervisord_pidfile), 'DATA_DIR')}",
        f"childlogdir={_value(str(layout.log_dir), 'DATA_DIR')}",
        f"directory={_value(str(workdir), 'the project directory')}",
        f"identifier={GROUP}",
        f"minfds={_minfds()}",
        *([f"user={user}"] if user else []),  # root on purpose (CI); says so instead of warning about it
        "",
        "[unix_http_server]",
        f"file={_value(str(layout.socket), 'DATA_DIR')}",
        "chmod=0700",
        f"username={GROUP}",
        f"password={password}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_value(str(layout.socket), 'DATA_DIR')}",
        f"username={GROUP}",
        f"password={password}",
        "",
        # One group: supervisord stops the processes of a group together, not one after another.
        f"[group:{GROUP}]",
        f"programs={','.join(e.name for e in entries)}",
    ]
    for index, entry in enumerate(entries):
        command = "/bin/sh -c " + shlex.quote(entry.shell_command())
        lines += [
            "",
            f"[program:{entry.name}]",
            f"command={_value(command, f'Procfile process {entry.name!r}')}",
            f"directory={_value(str(workdir), 'the project directory')}",
            f"priority={100 + index}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={STARTSECS}",
            f"startretries={STARTRETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOPWAITSECS}",
            "stopasgroup=true",  # gunicorn's workers and anything else a process started stop with it
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_value(str(layout.program_log(entry.name)), 'DATA_DIR')}",
            f"stdout_logfile_maxbytes={PROGRAM_LOG_BYTES}",
            f"stdout_logfile_backups={PROGRAM_LOG_BACKUPS}",
        ]
    return "\n".join(lines) + "\n"


# -- the pid file, held locked while `fluxbase run` runs -----------------------------------------

class RunLock:
    def __init__(self, layout: Layout):
        self.layout = layout
        self._fh = None

    def acquire(self) -> bool:
        self.layout.run_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.layout.pidfile, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        if self._fh is not None:
            try:
                self.layout.pidfile.unlink()
            except FileNotFoundError:
                pass
            self._fh.close()  # closing drops the lock
            self._fh = None


def running_pid(layout: Layout) -> int | None:
    """The pid of the `fluxbase run` for this DATA_DIR, or None when none runs (a stale file is ignored)."""
    try:
        fh = open(layout.pidfile)
    except FileNotFoundError:
        return None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            # Locked: it runs. Its pid may not be written yet, for the instant after it took the lock.
            deadline = time.monotonic() + 2
            while True:
                fh.seek(0)
                text = fh.read().strip()
                if text.isdigit() and int(text) > 0:
                    return int(text)
                if time.monotonic() > deadline:
                    raise SupervisorError(f"{layout.pidfile} is locked but holds no pid")
                time.sleep(0.02)
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


# -- processes, by session -----------------------------------------------------------------------

def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[3])


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def session_members(sid: int) -> list[int]:
    """Live processes of session `sid` (zombies excluded), this process never among them."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            stat = _stat(int(entry))
            if stat is not None and stat[2] == sid and stat[0] not in ("Z", "X"):
                members.append(int(entry))
    return members


def sweep_session(sid: int, grace: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process left in session `sid`; returns the pids found."""
    found = session_members(sid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        left = [pid for pid in found if alive(pid)]
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while any(alive(pid) for pid in left) and time.monotonic() < deadline:
            time.sleep(0.05)
    return found


def _is_our_supervisord(pid: int, layout: Layout) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return any(b"supervisord" in part for part in cmdline) and str(layout.config).encode() in cmdline


def leftover_supervisord(layout: Layout) -> int | None:
    """A supervisord of this DATA_DIR that outlived its `fluxbase run` (killed with SIGKILL, say)."""
    try:
        pid = int(layout.supervisord_pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if alive(pid) and _is_our_supervisord(pid, layout) else None


def stop_leftover_supervisord(layout: Layout, pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_DEADLINE
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    sweep_session(pid)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when `fluxbase run` dies, so supervisord stops its processes."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# -- following the log files ---------------------------------------------------------------------

class LogFollower:
    """New complete lines of one file, across supervisord's rotations."""

    def __init__(self, path: Path):
        self.path = path
        self._fh = None
        self._partial = b""
        try:
            self._fh = open(path, "rb")
            self._fh.seek(0, os.SEEK_END)  # what earlier runs wrote is in the file already
        except FileNotFoundError:
            pass

    def lines(self) -> list[bytes]:
        out: list[bytes] = []
        if self._fh is None:
            try:
                self._fh = open(self.path, "rb")
            except FileNotFoundError:
                return out
        out += self._drain()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return out
        if stat.st_ino != os.fstat(self._fh.fileno()).st_ino:  # rotated: finish the old file, open the new
            out += self._drain(final=True)
            self._fh.close()
            self._fh = open(self.path, "rb")
            out += self._drain()
        elif stat.st_size < self._fh.tell():  # truncated
            self._fh.seek(0)
            self._partial = b""
            out += self._drain()
        return out

    def _drain(self, final: bool = False) -> list[bytes]:
        data = self._fh.read()
        if not data and not (final and self._partial):
            return []
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if final or len(self._partial) > 65536:
            if self._partial:
                lines.append(self._partial)
            self._partial = b""
        return lines

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


_COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92"]


class PrefixedOutput:
    """Writes each process's lines as `name | line`, honcho-style; coloured on a terminal. With
    `log_file` (background mode) stdout and stderr are that file, rotated past COMBINED_LOG_BYTES."""

    def __init__(self, names: list[str], log_file: Path | None = None):
        self.log_file = log_file
        if log_file is not None:
            self._redirect()
        self.colour = sys.stdout.isatty()
        width = max(len(n) for n in [*names, "supervisor"])
        self.labels = {}
        for i, name in enumerate([*names, "supervisor"]):
            label = f"{name:<{width}} | "
            code = "1" if name == "supervisor" else _COLOURS[i % len(_COLOURS)]
            self.labels[name] = f"\033[{code}m{label}\033[0m".encode() if self.colour else label.encode()
        self._writes = 0

    def _redirect(self) -> None:
        fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def write(self, name: str, line: bytes, loud: bool = False) -> None:
        if loud:
            line = b"\033[1;31m" + line + b"\033[0m" if self.colour else b"!!! " + line
        try:
            sys.stdout.buffer.write(self.labels[name] + line.rstrip(b"\r") + b"\n")
        except (OSError, ValueError):
            pass  # the terminal went away; supervising goes on, the log files still have everything

    def say(self, text: str, loud: bool = False) -> None:
        self.write("supervisor", text.encode(), loud=loud)
        self.flush()

    def flush(self) -> None:
        try:
            sys.stdout.buffer.flush()
        except (OSError, ValueError):
            pass
        self._writes += 1
        if self.log_file is not None and self._writes % 50 == 0:
            try:
                if os.fstat(1).st_size > COMBINED_LOG_BYTES:
                    os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))
                    self._redirect()
            except OSError:
                pass


# -- running it ----------------------------------------------------------------------------------

_LOUD = re.compile(rb" (ERRO|CRIT) |gave up:|FATAL|not expected|with SIGKILL")


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
