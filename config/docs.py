"""Tables that documentation embeds, rendered from the code that defines them, between markers.

`python -m config.docs` prints the settings table; `python -m config.docs --write README.md`
updates the README. `python -m app.protocol --write docs/chat.md` does the same for the protocol.
"""
from __future__ import annotations

import sys

from config.settings import SETTINGS

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def render_table() -> str:
    lines = ["| name | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = "(unset)" if setting.default is None else (f"`{setting.default}`" if setting.default else "(empty)")
        lines.append(f"| `{setting.env}` | {default} | {setting.help} |")
    return "\n".join(lines)


def embedded(text: str, begin: str, end: str) -> str:
    """The part of `text` between the markers."""
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def write_into(path: str, table: str | None = None, begin: str = BEGIN, end: str = END) -> None:
    """Replace what is between the markers in `path` with `table` (default: the settings table)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{begin}\n{render_table() if table is None else table}\n{end}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(sys.argv[2] if len(sys.argv) > 2 else "README.md")
    else:
        print(render_table())
