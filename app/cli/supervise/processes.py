"""The processes of one `fluxbase run`: its locked pid file, supervisord's session, and what outlived a run."""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import time
from pathlib import Path

from app.cli.supervise.config import STOP_DEADLINE, Layout
from app.cli.supervise.errors import SupervisorError

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
