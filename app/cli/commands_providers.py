"""`fluxbase providers list | add | default | remove | test`: the admin API's provider calls, run
directly against the database with the same checks (app/providers/admin.py).

Keys never go on the command line (shell history, `ps`): `add` reads one from the environment
variable `--api-key-env` names, or from standard input with `--api-key-stdin`.
"""
from __future__ import annotations

import argparse
import sys

from rich.markup import escape
from rich.table import Table

from app.cli.console import make_console
from app.db.connect import connect_owner
from app.providers import admin
from app.providers.config_fields import ProviderConfigError
from app.providers.probe import probe
from app.providers.registry import provider_types
from app.providers.repository import key_box
from config import environment

out = make_console()
err = make_console(stderr=True)

# --flag -> config field, per the provider types' fields (app/providers/*.py).
_CONFIG_FLAGS = {"model": "model", "base_url": "base_url", "endpoint": "endpoint",
                 "deployment": "deployment_name", "api_version": "api_version", "organization": "organization_id"}


def add_parsers(sub) -> None:
    p = sub.add_parser("providers", help="AI providers: list, add, make default, remove, test")
    s = p.add_subparsers(dest="providers_command", required=True, metavar="ACTION")

    s.add_parser("list", help="list providers (keys are never shown)").set_defaults(handler=cmd_list)

    add = s.add_parser("add", help="add a provider",
                       epilog="examples:\n"
                              "  fluxbase providers add local --type ollama --model llama3.2\n"
                              "  AZURE_KEY=... fluxbase providers add azure-eu --type azure --api-key-env AZURE_KEY \\\n"
                              "      --endpoint https://NAME.openai.azure.com --deployment gpt-4o --default",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("name", help="lower-case letters, digits, '-' and '_'")
    add.add_argument("--type", required=True, choices=provider_types(), dest="provider_type")
    add.add_argument("--display-name", metavar="TEXT")
    add.add_argument("--api-key-env", metavar="VAR", help="read the key from this environment variable")
    add.add_argument("--api-key-stdin", action="store_true", help="read the key from standard input")
    add.add_argument("--model", help="model (openai, ollama)")
    add.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server (openai; default api.openai.com)")
    add.add_argument("--organization", metavar="ID", help="OpenAI organization id (openai)")
    add.add_argument("--endpoint", metavar="URL", help="Azure resource endpoint, or the Ollama server")
    add.add_argument("--deployment", metavar="NAME", help="Azure deployment name (azure)")
    add.add_argument("--api-version", metavar="V", help="Azure API version (default 2024-02-15-preview)")
    add.add_argument("--embedding-model", metavar="M", help="model (Azure: deployment) for embeddings")
    add.add_argument("--default", action="store_true", help="make it the default provider")
    add.add_argument("--embeddings", action="store_true", help="use it for embeddings")
    add.add_argument("--disabled", action="store_true", help="add it disabled")
    add.set_defaults(handler=cmd_add)

    default = s.add_parser("default", help="make a provider the default")
    default.add_argument("name", help="provider name or id")
    default.set_defaults(handler=cmd_default)

    remove = s.add_parser("remove", help="delete a provider")
    remove.add_argument("name", help="provider name or id")
    remove.set_defaults(handler=cmd_remove)

    test = s.add_parser("test", help="send one tiny request and report the latency or the failure")
    test.add_argument("name", help="provider name or id (`config` is the one from OPENAI_*)")
    test.set_defaults(handler=cmd_test)


def _refused(exc: Exception) -> int:
    err.print(f"[red]error:[/red] {escape(str(exc))}")
    return 1


def cmd_list(settings, args) -> int:
    with connect_owner(settings) as conn:
        rows = admin.list_providers(conn, settings)
    table = Table(title="providers")
    for column in ("name", "type", "default", "enabled", "embeddings", "model", "where"):
        table.add_column(column, no_wrap=column in ("name", "type"))
    for row in rows:
        config = row.config
        model = config.get("deployment_name") or config.get("model") or ""
        where = config.get("base_url") or config.get("endpoint") or ""
        table.add_row(escape(row.name) + (" [dim](environment)[/]" if row.id == admin.ENV_PROVIDER_ID else ""),
                      row.provider_type, _yes(row.is_default), _yes(row.enabled), _yes(row.use_for_embeddings),
                      escape(model), escape(where))
    out.print(table)
    if not rows:
        out.print("no provider: set OPENAI_API_KEY, or add one with `fluxbase providers add`")
    return 0


def _api_key(args) -> str | None:
    if args.api_key_env and args.api_key_stdin:
        raise ProviderConfigError("config.api_key", "give --api-key-env or --api-key-stdin, not both")
    if args.api_key_env:
        value = environment.named_variable(args.api_key_env)
        if value is None:
            raise ProviderConfigError("config.api_key", f"environment variable {args.api_key_env} is not set")
        if not value.strip():
            raise ProviderConfigError("config.api_key", f"environment variable {args.api_key_env} is empty")
        return value
    if args.api_key_stdin:
        # All of it: a second line is a mistake the key's own check then refuses, not something to drop.
        value = sys.stdin.read(4096).strip()
        if not value:
            raise ProviderConfigError("config.api_key", "standard input was empty")
        return value
    return None


def cmd_add(settings, args) -> int:
    try:
        config = {field: getattr(args, flag) for flag, field in _CONFIG_FLAGS.items() if getattr(args, flag)}
        api_key = _api_key(args)
        if api_key:
            config["api_key"] = api_key
        new = admin.NewProvider(name=args.name, provider_type=args.provider_type, config=config,
                                display_name=args.display_name, is_default=args.default, enabled=not args.disabled,
                                embedding_model=args.embedding_model)
        with connect_owner(settings) as conn:
            row = admin.create(conn, key_box(settings.encryption_key), new)
            if args.embeddings:
                row = admin.use_for_embeddings(conn, row.id, True)
            conn.commit()
    except (ProviderConfigError, admin.ProviderNameTaken) as exc:
        return _refused(exc)
    out.print(f"added provider {escape(row.name)} ({row.provider_type})" + (", the default" if row.is_default else ""))
    return 0


def cmd_default(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            row = admin.make_default(conn, args.name)
            conn.commit()
    except (ProviderConfigError, admin.ProviderNotFound, admin.ReadOnlyProvider) as exc:
        return _refused(exc)
    out.print(f"{escape(row.name)} is now the default provider")
    return 0


def cmd_remove(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            admin.remove(conn, args.name)
            conn.commit()
    except (admin.ProviderNotFound, admin.ReadOnlyProvider) as exc:
        return _refused(exc)
    out.print(f"removed provider {escape(args.name)}")
    return 0


def cmd_test(settings, args) -> int:
    try:
        with connect_owner(settings) as conn:
            row = admin.get_provider(conn, settings, args.name)
            config = admin.full_config(conn, key_box(settings.encryption_key), settings, row)
    except admin.ProviderNotFound as exc:
        return _refused(exc)
    result = probe(settings, row, config)
    if result.success:
        out.print(f"[green]ok[/]: {escape(row.name)} ({escape(result.model)}) answered in {result.latency_ms:.0f} ms")
        return 0
    err.print(f"[red]failed[/]: {escape(row.name)} ({escape(result.model)}): {result.code}: {escape(result.error or '')}")
    return 1


def _yes(value: bool) -> str:
    return "yes" if value else "[dim]no[/]"
