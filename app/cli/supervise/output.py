"""What `fluxbase run` prints: the processes' log files followed, each line prefixed with its process's name."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

COMBINED_LOG_BYTES = 20 * 1024 * 1024

_COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92"]
_LOUD = re.compile(rb" (ERRO|CRIT) |gave up:|FATAL|not expected|with SIGKILL")


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
