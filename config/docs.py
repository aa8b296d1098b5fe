"""Renders the settings table that README.md embeds.

`python -m config.docs` prints it; `python -m config.docs --write README.md` updates the README.
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


def write_into(path: str) -> None:
    """Replace the table between the markers in `path` (README.md) with the current one."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{head}{BEGIN}\n{render_table()}\n{END}{tail}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_into(sys.argv[2] if len(sys.argv) > 2 else "README.md")
    else:
        print(render_table())
