"""The Procfile, the one source of the commands `fluxbase run` supervises: reading it, choosing from it."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from app.cli.supervise.errors import SupervisorError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
EXCLUDED_BY_DEFAULT = ("release",)  # run once per deploy (`fluxbase setup` migrates), never supervised

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_SHELL_OPERATORS = {";", "&", "&&", "|", "||", ";;", "(", ")"}  # a list or pipeline: no exec


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
