"""Renders the settings table that README.md embeds; `python -m config.docs` prints it."""
from __future__ import annotations

from config.settings import SETTINGS

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def render_table() -> str:
    lines = ["| name | default | meaning |", "|---|---|---|"]
    for setting in SETTINGS:
        default = "(unset)" if setting.default is None else (f"`{setting.default}`" if setting.default else "(empty)")
        lines.append(f"| `{setting.env}` | {default} | {setting.help} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_table())
