"""`fluxbase <command>`: argument parsing and dispatch; each command lives in its own module."""
from __future__ import annotations

import argparse
import sys

from app.cli import (
    commands_chat,
    commands_chatbots,
    commands_core,
    commands_eval,
    commands_execution,
    commands_kb,
    commands_providers,
    commands_run,
    commands_services,
    commands_settings,
    commands_storage,
    commands_usage,
)
from app.cli.console import make_console
from config import ConfigurationError, Settings

console = make_console(stderr=True)


class CliError(Exception):
    """A command failed in a way the user can fix; printed as one line, exit code 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fluxbase", description="AI chatbots over your PostgreSQL database.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands_core.add_parsers(sub)
    commands_services.add_parsers(sub)
    commands_run.add_parsers(sub)
    commands_chatbots.add_parsers(sub)
    commands_providers.add_parsers(sub)
    commands_usage.add_parsers(sub)
    commands_settings.add_parsers(sub)
    commands_kb.add_parsers(sub)
    commands_chat.add_parsers(sub)
    commands_eval.add_parsers(sub)
    commands_execution.add_parsers(sub)
    commands_storage.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        return int(args.handler(settings, args) or 0)
    except ConfigurationError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure is one readable line; tracebacks only with LOG_LEVEL=DEBUG
        if "--debug" in sys.argv:
            raise
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
