"""Find chatbot definition files under a directory.

Accepted layouts, relative to the root:

    <name>.ts                    namespace "default"
    <name>/index.ts              namespace "default"
    <namespace>/<name>/index.ts

A folder with its own `index.ts` is a chatbot, so its sub-folders are its private files,
not chatbots. Dot-folders, `node_modules`, `_shared` and `*.d.ts` files are skipped.
Only reading happens here; parsing is `spec.parse_chatbot`'s job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.chatbots.spec import is_valid_name
from app.chatbots.tsparse import ChatbotDefinitionError

__all__ = ["ChatbotSource", "DiscoveryError", "ScanResult", "discover_chatbots", "scan_chatbots"]

DEFAULT_NAMESPACE = "default"
MAX_FILE_BYTES = 1024 * 1024  # a prompt file this large is a mistake, not a chatbot
_SKIPPED_DIRS = frozenset(("node_modules", "_shared"))


class DiscoveryError(ChatbotDefinitionError):
    """A file that cannot become a chatbot source (unreadable, badly named, ambiguous)."""

    def __init__(self, path: str, message: str, *, namespace: str | None = None, name: str | None = None):
        self.namespace = namespace
        self.name = name
        super().__init__(path, None, message)

    def __reduce__(self):
        return (_rebuild, (self.path_or_name, self.message, self.namespace, self.name))


def _rebuild(path, message, namespace, name):
    return DiscoveryError(path, message, namespace=namespace, name=name)


@dataclass(frozen=True)
class ChatbotSource:
    namespace: str
    name: str
    path: str
    code: bytes


@dataclass(frozen=True)
class ScanResult:
    sources: tuple[ChatbotSource, ...]
    errors: tuple[DiscoveryError, ...]


def discover_chatbots(root: str | os.PathLike) -> list[ChatbotSource]:
    """Every chatbot source under `root`, sorted by (namespace, name); the first problem raises."""
    result = scan_chatbots(root)
    if result.errors:
        raise result.errors[0]
    return list(result.sources)


def scan_chatbots(root: str | os.PathLike) -> ScanResult:
    """Like `discover_chatbots`, but keeps going and returns the problems next to the good sources.

    A sync uses this so that one broken file does not block (or, with delete_missing,
    delete) the others; the names in `errors` tell it which chatbots to leave alone.
    """
    base = Path(root)
    if not base.is_dir():
        raise DiscoveryError(str(base), "chatbots directory not found")
    found: dict[tuple[str, str], list[Path]] = {}
    errors: list[DiscoveryError] = []

    def add(namespace: str, name: str, path: Path) -> None:
        for kind, value in (("namespace", namespace), ("chatbot name", name)):
            if not is_valid_name(value):
                errors.append(DiscoveryError(str(path), _bad_name(kind, value), namespace=namespace, name=name))
                return
        found.setdefault((namespace, name), []).append(path)

    for entry in _entries(base):
        if entry.is_file() and entry.name.endswith(".ts") and not entry.name.endswith(".d.ts"):
            add(DEFAULT_NAMESPACE, entry.name[:-3], entry)
        elif entry.is_dir():
            index = entry / "index.ts"
            if index.is_file():
                add(DEFAULT_NAMESPACE, entry.name, index)
                continue
            for sub in _entries(entry):
                if sub.is_dir() and (sub / "index.ts").is_file():
                    add(entry.name, sub.name, sub / "index.ts")

    sources = []
    for (namespace, name), paths in sorted(found.items()):
        if len(paths) > 1:
            listed = " and ".join(str(p) for p in paths)
            errors.append(DiscoveryError(str(paths[0]), f"chatbot {namespace}/{name} is defined twice: {listed}", namespace=namespace, name=name))
            continue
        try:
            sources.append(ChatbotSource(namespace, name, str(paths[0]), _read(paths[0])))
        except DiscoveryError as exc:
            exc.namespace, exc.name = namespace, name
            errors.append(exc)
    return ScanResult(tuple(sources), tuple(errors))


def _entries(folder: Path) -> list[Path]:
    try:
        children = sorted(folder.iterdir())
    except OSError as exc:
        raise DiscoveryError(str(folder), f"cannot list directory: {exc.strerror or exc}") from None
    return [c for c in children if not c.name.startswith(".") and c.name not in _SKIPPED_DIRS]


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            code = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DiscoveryError(str(path), f"cannot read file: {exc.strerror or exc}") from None
    if len(code) > MAX_FILE_BYTES:
        raise DiscoveryError(str(path), f"file is larger than {MAX_FILE_BYTES} bytes")
    return code


def _bad_name(kind: str, value: str) -> str:
    return f"invalid {kind} {value!r}: use lower-case letters, digits, '-' and '_' (1-63 characters, starting with a letter or digit)"
