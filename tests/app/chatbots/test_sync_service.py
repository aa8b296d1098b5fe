"""Chatbot sync: the service (directory and payload), the start-up door and the CLI, on a real database."""
from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from app.chatbots import repository as repo
from app.chatbots.policy import server_policy
from app.chatbots.spec import parse_chatbot
from app.chatbots.sync_service import (
    SyncReport,
    sync_directory,
    sync_on_start,
    sync_payload,
)
from app.tools.base import Tool
from app.tools.registry import ToolRegistry, default_registry
from app.tools.sql_tool import EXECUTE_SQL
from tests.support.processes import ROOT, fluxbase, free_port


def new_namespace() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def bot(description: str = "A test bot", *annotations: str, prompt: str = "You help with tests.", tools: str = "") -> str:
    lines = "\n".join(f" * @fluxbase:{a}" for a in annotations)
    return (f"/**\n * Test Bot\n *\n * @fluxbase:description {description}\n{lines}\n */\n"
            f"export default `{prompt}`;\n{tools}")


BROKEN = "/**\n * @fluxbase:description Broken\n * @fluxbase:temperature 9\n */\nexport default `x`;\n"


def write(root: Path, namespace: str, name: str, code: str) -> Path:
    path = root / namespace / name / "index.ts"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(code)
    return path


def unavailable(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"


def registry_with(*names: str) -> ToolRegistry:
    """A server that runs execute_sql and stand-ins for these tools (which this server lacks today)."""
    def stub(name):
        return Tool(name=name, description=f"the {name} stub", scope=None, run=lambda ctx, args: "",
                    parameters={"type": "object", "properties": {"table": {"type": "string", "description": "t"}}})
    return ToolRegistry([EXECUTE_SQL, *(stub(name) for name in names)])


def rows(conn, namespace: str) -> dict[str, repo.ChatbotRow]:
    return {row.name: row for row in repo.list_chatbots(conn, namespace=namespace)}


@pytest.fixture
def ns():
    return new_namespace()


# -- directory sync ---------------------------------------------------------------------


def test_created_then_unchanged_then_updated_bumps_version_only_on_change(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot("first"))
    write(tmp_path, ns, "beta", bot("second"))

    first = sync_directory(database, directory=tmp_path, namespace=ns)
    assert first.to_dict() == {
        "namespace": ns,
        "summary": {"created": 2, "updated": 0, "deleted": 0, "unchanged": 0, "errors": 0},
        "details": {"created": ["alpha", "beta"], "updated": [], "deleted": [], "unchanged": []},
        "errors": [], "warnings": [], "dry_run": False,
    }
    stored = rows(owner_conn, ns)
    assert {r.version for r in stored.values()} == {1}
    assert {r.source for r in stored.values()} == {"filesystem"}
    assert stored["alpha"].description == "first" and stored["alpha"].title == "Test Bot"

    again = sync_directory(database, directory=tmp_path, namespace=ns)
    assert again.summary == {"created": 0, "updated": 0, "deleted": 0, "unchanged": 2, "errors": 0}
    assert rows(owner_conn, ns)["alpha"].updated_at == stored["alpha"].updated_at

    write(tmp_path, ns, "alpha", bot("first, edited", "max-tokens 1000"))
    third = sync_directory(database, directory=tmp_path, namespace=ns)
    assert (third.updated, third.unchanged) == (("alpha",), ("beta",))
    after = rows(owner_conn, ns)
    assert after["alpha"].version == 2 and after["beta"].version == 1
    assert after["alpha"].id == stored["alpha"].id
    assert after["alpha"].description == "first, edited" and after["alpha"].config["max_tokens"] == 1000
    assert after["alpha"].updated_at > stored["alpha"].updated_at


def test_dry_run_reports_and_changes_nothing(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot())
    preview = sync_directory(database, directory=tmp_path, namespace=ns, dry_run=True)
    assert preview.created == ("alpha",) and preview.dry_run and preview.summary_line().startswith("dry run: ")
    assert rows(owner_conn, ns) == {}

    sync_directory(database, directory=tmp_path, namespace=ns)
    write(tmp_path, ns, "alpha", bot("changed"))
    write(tmp_path, ns, "gamma", bot())
    (tmp_path / ns / "beta").mkdir()
    preview = sync_directory(database, directory=tmp_path, namespace=ns, dry_run=True, delete_missing=True)
    assert (preview.created, preview.updated) == (("gamma",), ("alpha",))
    stored = rows(owner_conn, ns)
    assert list(stored) == ["alpha"] and stored["alpha"].version == 1 and stored["alpha"].description == "A test bot"


def test_delete_missing_removes_only_file_chatbots_of_the_synced_namespace(database, owner_conn, tmp_path, ns):
    other = new_namespace()
    write(tmp_path, ns, "keep", bot())
    write(tmp_path, ns, "gone", bot())
    write(tmp_path, other, "elsewhere", bot())
    sync_directory(database, directory=tmp_path)
    sync_payload(database, namespace=ns, chatbots=[{"name": "pushed", "code": bot()}])
    (tmp_path / ns / "gone" / "index.ts").unlink()

    kept = sync_directory(database, directory=tmp_path, namespace=ns)  # without delete_missing
    assert kept.deleted == () and "gone" in rows(owner_conn, ns)

    report = sync_directory(database, directory=tmp_path, namespace=ns, delete_missing=True)
    assert report.deleted == ("gone",) and report.unchanged == ("keep",)
    assert sorted(rows(owner_conn, ns)) == ["keep", "pushed"]  # the API-pushed one is not the directory's
    assert list(rows(owner_conn, other)) == ["elsewhere"]


def test_one_broken_file_does_not_stop_the_others_and_is_not_deleted(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "good", bot())
    write(tmp_path, ns, "fragile", bot("works for now"))
    sync_directory(database, directory=tmp_path, namespace=ns)

    write(tmp_path, ns, "fragile", BROKEN)
    write(tmp_path, ns, "fresh", bot())
    report = sync_directory(database, directory=tmp_path, namespace=ns, delete_missing=True)
    assert report.created == ("fresh",) and report.unchanged == ("good",) and report.deleted == ()
    assert [e["name"] for e in report.errors] == ["fragile"]
    assert "@fluxbase:temperature" in report.errors[0]["error"] and "index.ts:3" in report.errors[0]["error"]
    assert report.to_dict()["summary"]["errors"] == 1
    stored = rows(owner_conn, ns)
    assert sorted(stored) == ["fragile", "fresh", "good"]
    assert stored["fragile"].description == "works for now" and stored["fragile"].version == 1


def test_sync_never_re_enables_a_disabled_chatbot_and_keeps_admin_overrides(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot("v1", "rate-limit 20"))
    sync_directory(database, directory=tmp_path, namespace=ns)
    with psycopg.connect(database.database_url) as conn:
        row = repo.get_by_name(conn, ns, "alpha")
        repo.set_enabled(conn, row.id, False)
        repo.update_config(conn, row, {"temperature": 0.1}, registry=default_registry())

    write(tmp_path, ns, "alpha", bot("v2", "rate-limit 30", "max-turns 7"))
    assert sync_directory(database, directory=tmp_path, namespace=ns).updated == ("alpha",)
    after = rows(owner_conn, ns)["alpha"]
    assert after.enabled is False
    assert after.config["temperature"] == 0.1 and after.config["rate_limit_per_minute"] == 30
    assert after.config["max_turns"] == 7 and after.version == 3  # created, admin edit, file edit
    assert repo.load_enabled(owner_conn, ns, "alpha") is None


def test_directory_scope_without_namespace_covers_every_namespace_found(database, tmp_path):
    first, second = sorted([new_namespace(), new_namespace()])
    write(tmp_path, first, "one", bot())
    write(tmp_path, second, "two", bot())
    write(tmp_path, second, "bad", BROKEN)
    report = sync_directory(database, directory=tmp_path)
    assert report.namespace is None and report.namespaces == (first, second)
    assert report.created == (f"{first}/one", f"{second}/two")
    assert [e["name"] for e in report.errors] == [f"{second}/bad"]

    only = sync_directory(database, directory=tmp_path, namespace=first)
    assert only.namespace == first and only.unchanged == ("one",) and only.errors == ()


def test_missing_directory_is_an_error_and_deletes_nothing(database, owner_conn, tmp_path, ns):
    sync_payload(database, namespace=ns, chatbots=[{"name": "alpha", "code": bot()}])
    report = sync_directory(database, directory=tmp_path / "nope", namespace=ns, delete_missing=True)
    assert not report.ok and "chatbots directory not found" in report.errors[0]["error"]
    assert list(rows(owner_conn, ns)) == ["alpha"]


def test_file_tools_survive_admin_config_edits(database, owner_conn, tmp_path, ns):
    tools = 'export const tools = [{ name: "execute_sql", description: "Only the shop" }];\n'
    write(tmp_path, ns, "alpha", bot("x", "mcp-tools query_table", tools=tools))
    write(tmp_path, ns, "beta", bot("y"))
    registry = registry_with("query_table", "insert_record")
    sync_directory(database, directory=tmp_path, namespace=ns, registry=registry)
    with psycopg.connect(database.database_url) as conn:
        stored = rows(conn, ns)
        alpha = repo.update_config(conn, stored["alpha"], {"mcp_tools": ["query_table", "insert_record"]},
                                   registry=registry)
        beta = repo.update_config(conn, stored["beta"], {"mcp_tools": ["query_table"]}, registry=registry)
    assert [t["name"] for t in alpha.tools] == ["execute_sql"] and alpha.tools[0]["description"] == "Only the shop"
    assert [t["name"] for t in beta.tools] == ["query_table"]


# -- tools this server cannot run -----------------------------------------------------------------


def test_a_default_sql_chatbot_stores_the_registered_execute_sql_definition(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot())
    assert sync_directory(database, directory=tmp_path, namespace=ns).warnings == ()
    assert rows(owner_conn, ns)["alpha"].tools == (default_registry().definition("execute_sql"),)


def test_a_tool_this_server_cannot_run_is_a_warning_and_not_stored(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "orders", bot("x", "mcp-tools search_knowledge_base,execute_sql"))
    write(tmp_path, ns, "plain", bot())
    report = sync_directory(database, directory=tmp_path, namespace=ns)
    assert report.ok and report.created == ("orders", "plain")
    assert report.warnings == ({"name": "orders", "warning": unavailable("search_knowledge_base")},)
    assert report.to_dict()["warnings"] == [{"name": "orders", "warning": unavailable("search_knowledge_base")}]
    assert report.summary_line().endswith(", 0 errors, 1 warnings")
    stored = rows(owner_conn, ns)["orders"]
    assert [t["name"] for t in stored.tools] == ["execute_sql"] and stored.config["mcp_tools"] == ["search_knowledge_base", "execute_sql"]
    # Every sync says so again, also when nothing changed.
    again = sync_directory(database, directory=tmp_path, namespace=ns)
    assert again.unchanged == ("orders", "plain") and again.warnings == report.warnings


def test_an_admin_override_that_names_an_unavailable_tool_is_a_warning(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot())
    sync_directory(database, directory=tmp_path, namespace=ns)
    with psycopg.connect(database.database_url) as conn:
        edited = repo.update_config(conn, rows(conn, ns)["alpha"], {"mcp_tools": ["search_knowledge_base"]},
                                    registry=default_registry())
    assert edited.tools == ()
    report = sync_directory(database, directory=tmp_path, namespace=ns)
    assert report.unchanged == ("alpha",) and report.warnings == ({"name": "alpha", "warning": unavailable("search_knowledge_base")},)


def test_a_server_that_gains_a_tool_offers_it_at_the_next_sync_of_the_same_file(database, owner_conn, tmp_path, ns):
    tools = 'export const tools = [{ name: "search_knowledge_base", description: "Read the shop" }, { name: "execute_sql" }];\n'
    write(tmp_path, ns, "alpha", bot("x", tools=tools))
    before = sync_directory(database, directory=tmp_path, namespace=ns)
    assert before.warnings == ({"name": "alpha", "warning": unavailable("search_knowledge_base")},)
    assert [t["name"] for t in rows(owner_conn, ns)["alpha"].tools] == ["execute_sql"]

    gained = registry_with("search_knowledge_base")
    after = sync_directory(database, directory=tmp_path, namespace=ns, registry=gained)
    assert after.updated == ("alpha",) and after.warnings == ()
    stored = rows(owner_conn, ns)["alpha"]
    assert [t["name"] for t in stored.tools] == ["search_knowledge_base", "execute_sql"] and stored.version == 2
    assert stored.tools[0]["description"] == "Read the shop"  # the file's wording, now checked against the tool
    assert sync_directory(database, directory=tmp_path, namespace=ns, registry=gained).unchanged == ("alpha",)


def test_concurrent_syncs_are_serialised(database, owner_conn, tmp_path, ns):
    for index in range(5):
        write(tmp_path, ns, f"bot-{index}", bot())
    reports: list[SyncReport] = []
    gate = threading.Barrier(3)

    def run():
        gate.wait()
        reports.append(sync_directory(database, directory=tmp_path, namespace=ns))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(reports) == 3 and all(r.ok for r in reports)
    assert sum(len(r.created) for r in reports) == 5 and sum(len(r.unchanged) for r in reports) == 10
    assert len(rows(owner_conn, ns)) == 5


# -- the stored code (migration 0009) ---------------------------------------------------------


def code_of(conn, namespace: str, name: str) -> tuple[str | None, int, object, str]:
    """(code, version, updated_at, xmin) as stored; xmin changes with every write of the row."""
    return conn.execute("SELECT code, version, updated_at, xmin::text FROM ai.chatbots WHERE namespace = %s AND name = %s",
                        (namespace, name)).fetchone()


def test_every_created_or_updated_row_stores_the_text_that_was_parsed(database, owner_conn, tmp_path, ns):
    raw = ("\ufeff" + bot("Gr\u00fc\u00dfe \U0001f44b")).replace("\n", "\r\n").encode() + b"\t\r\n"
    path = write(tmp_path, ns, "file-bot", "")
    path.write_bytes(raw)
    pushed = bot("pushed", "max-tokens 100") + "// trailing comment  \n\n"
    assert sync_directory(database, directory=tmp_path, namespace=ns).created == ("file-bot",)
    assert sync_payload(database, namespace=ns, chatbots=[{"name": "api-bot", "code": pushed, "temperature": 0.2}]
                        ).created == ("api-bot",)
    stored = rows(owner_conn, ns)
    assert stored["file-bot"].code.encode("utf-8") == raw  # BOM, CRLF and trailing whitespace included
    assert stored["api-bot"].code == pushed and stored["api-bot"].config["temperature"] == 0.2

    edited = bot("edited")
    write(tmp_path, ns, "file-bot", edited)
    assert sync_directory(database, directory=tmp_path, namespace=ns).updated == ("file-bot",)
    assert rows(owner_conn, ns)["file-bot"].code == edited
    # A broken edit is not synced: the stored code stays the one that runs.
    write(tmp_path, ns, "file-bot", BROKEN)
    assert len(sync_directory(database, directory=tmp_path, namespace=ns).errors) == 1
    assert rows(owner_conn, ns)["file-bot"].code == edited
    # A name moving from a file to the API takes the API's code with it.
    assert sync_payload(database, namespace=ns, chatbots=[{"name": "file-bot", "code": pushed}]).updated == ("file-bot",)
    assert (rows(owner_conn, ns)["file-bot"].code, rows(owner_conn, ns)["file-bot"].source) == (pushed, "api")


@pytest.mark.parametrize("door", ["directory", "payload", "payload with spec keys"])
def test_a_row_synced_before_code_was_stored_gets_it_at_the_next_sync_without_a_new_version(
        database, owner_conn, tmp_path, ns, door):
    code = bot("old row")

    def sync(**options):
        if door == "directory":
            return sync_directory(database, directory=tmp_path, namespace=ns, **options)
        spec = {"max_tokens": 300} if door == "payload with spec keys" else {}
        return sync_payload(database, namespace=ns, chatbots=[{"name": "old", "code": code, **spec}], **options)

    write(tmp_path, ns, "old", code)
    assert sync().created == ("old",)
    # What migration 0009 leaves on a row synced before it.
    owner_conn.execute("UPDATE ai.chatbots SET code = NULL WHERE namespace = %s AND name = 'old'", (ns,))
    _, version, updated_at, _ = before = code_of(owner_conn, ns, "old")
    assert before[0] is None and rows(owner_conn, ns)["old"].code is None

    assert sync(dry_run=True).unchanged == ("old",)
    assert code_of(owner_conn, ns, "old") == before  # a dry run writes nothing

    report = sync()
    assert report.unchanged == ("old",) and report.updated == ()
    filled = code_of(owner_conn, ns, "old")
    assert filled[:3] == (code, version, updated_at) and filled[3] != before[3]

    assert sync().unchanged == ("old",)
    assert code_of(owner_conn, ns, "old") == filled  # with the code in place, an unchanged sync writes nothing


def test_update_definition_of_a_current_draft_only_fills_a_missing_code(database, owner_conn, ns):
    code = bot("direct")
    sync_payload(database, namespace=ns, chatbots=[{"name": "direct", "code": code}])
    owner_conn.execute("UPDATE ai.chatbots SET code = NULL WHERE namespace = %s AND name = 'direct'", (ns,))
    draft = repo.draft_from_spec(parse_chatbot(code, name="direct", namespace=ns))
    registry = default_registry()
    with psycopg.connect(database.database_url) as conn:
        current = repo.get_by_name(conn, ns, "direct", for_update=True)
        assert repo.is_current(current, draft, registry)
        row = repo.update_definition(conn, current, draft, source="api", registry=registry)
        assert (row.code, row.version, row.updated_at) == (code, current.version, current.updated_at)
        assert repo.update_definition(conn, row, draft, source="api", registry=registry) is row


# -- payload sync ----------------------------------------------------------------------------


def test_payload_sync_reports_bad_names_and_duplicates_per_chatbot(database, owner_conn, ns):
    report = sync_payload(database, namespace=ns, chatbots=[
        {"name": "good", "code": bot()},
        {"name": "Bad Name", "code": bot()},
        {"name": "twice", "code": bot()},
        {"name": "twice", "code": bot("other")},
        {"name": "broken", "code": BROKEN},
    ])
    assert report.created == ("good",)
    assert [e["name"] for e in report.errors] == ["Bad Name", "twice", "broken"]
    assert "appears 2 times" in report.errors[1]["error"]
    assert list(rows(owner_conn, ns)) == ["good"] and rows(owner_conn, ns)["good"].source == "api"


def test_payload_delete_missing_covers_the_whole_namespace(database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "from-file", bot())
    sync_directory(database, directory=tmp_path, namespace=ns)
    sync_payload(database, namespace=ns, chatbots=[{"name": "a", "code": bot()}, {"name": "b", "code": bot()}])
    report = sync_payload(database, namespace=ns, delete_missing=True,
                          chatbots=[{"name": "a", "code": bot()}, {"name": "b", "code": BROKEN}])
    assert report.unchanged == ("a",) and report.deleted == ("from-file",) and len(report.errors) == 1
    assert sorted(rows(owner_conn, ns)) == ["a", "b"]


def test_a_definition_postgres_refuses_is_one_error(database, owner_conn, ns):
    report = sync_payload(database, namespace=ns, chatbots=[
        {"name": "nul", "code": bot(prompt="bad \\0 byte".replace("\\0", "\x00"))},
        {"name": "fine", "code": bot()},
    ])
    assert report.created == ("fine",)
    assert [e["name"] for e in report.errors] == ["nul"]


# -- reading it back -----------------------------------------------------------------------


def test_load_enabled_applies_the_server_policy_when_given(database, owner_conn, ns):
    code = bot("x", "allowed-operations SELECT,INSERT", "max-tokens 9000", "allow-unauthenticated true")
    sync_payload(database, namespace=ns, chatbots=[{"name": "alpha", "code": code}])
    declared = repo.load_enabled(owner_conn, ns, "alpha")
    assert declared.config["max_tokens"] == 9000 and declared.version == 1 and declared.tools
    policy = server_policy(database.replace(server_allowed_operations=frozenset({"SELECT"}), server_max_tokens=2048,
                                            server_allow_unauthenticated=False))
    applied = repo.load_enabled(owner_conn, ns, "alpha", policy=policy)
    assert applied.config["allowed_operations"] == ["SELECT"] and applied.config["max_tokens"] == 2048
    assert applied.config["allow_unauthenticated"] is False
    assert repo.load_enabled(owner_conn, ns, "missing") is None
    by_id = repo.get_record(owner_conn, declared.id, policy=policy)
    assert by_id.config == applied.config and by_id.name == "alpha"
    repo.set_enabled(owner_conn, declared.id, False)
    assert repo.get_record(owner_conn, declared.id).enabled is False and repo.load_enabled(owner_conn, ns, "alpha") is None
    assert repo.get_record(owner_conn, str(uuid.uuid4())) is None and repo.get_record(owner_conn, "nope") is None


# -- start-up door ----------------------------------------------------------------------------


def test_start_up_sync_is_skippable_and_never_raises(database, tmp_path, ns, caplog):
    write(tmp_path, ns, "alpha", bot())
    assert sync_on_start(database.replace(chatbots_sync_on_start=False, chatbots_dir=tmp_path)) is None

    report = sync_on_start(database.replace(chatbots_dir=tmp_path))
    assert report is not None and report.created == ("alpha",) and report.namespace == ns

    unreachable = database.replace(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none",
                                   chatbots_dir=tmp_path)
    with caplog.at_level(logging.ERROR, logger="app.chatbots.sync_service"):
        assert sync_on_start(unreachable) is None
    assert "chatbot sync at start-up failed" in caplog.text


def test_start_up_sync_logs_the_warnings(database, tmp_path, ns, caplog):
    write(tmp_path, ns, "orders", bot("x", "mcp-tools search_knowledge_base"))
    with caplog.at_level(logging.WARNING, logger="app.chatbots.sync_service"):
        report = sync_on_start(database.replace(chatbots_dir=tmp_path))
    assert report.created == ("orders",)
    assert f"chatbot orders: {unavailable('search_knowledge_base')}" in caplog.text


# -- CLI ---------------------------------------------------------------------------------------


def test_cli_sync_prints_changes_and_fails_on_errors(base_env, database, owner_conn, tmp_path, ns):
    write(tmp_path, ns, "alpha", bot())
    dry = fluxbase(base_env, "chatbots", "sync", "--dir", str(tmp_path), "--namespace", ns, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout and "alpha" in dry.stdout and rows(owner_conn, ns) == {}

    write(tmp_path, ns, "orders", bot("x", "mcp-tools search_knowledge_base"))
    done = fluxbase(base_env, "chatbots", "sync", "--dir", str(tmp_path), "--namespace", ns)
    assert done.returncode == 0, done.stderr  # a warning is not a failure
    assert "created" in done.stdout and "2 created" in done.stdout and sorted(rows(owner_conn, ns)) == ["alpha", "orders"]
    assert "warning" in done.stdout and unavailable("search_knowledge_base") in done.stdout and "1 warnings" in done.stdout

    write(tmp_path, ns, "broken", BROKEN)
    (tmp_path / ns / "alpha" / "index.ts").unlink()
    failed = fluxbase(base_env, "chatbots", "sync", "--dir", str(tmp_path), "--namespace", ns, "--delete-missing")
    assert failed.returncode == 1
    assert "error" in failed.stdout and "broken" in failed.stdout and "1 deleted" in failed.stdout
    assert list(rows(owner_conn, ns)) == ["orders"]


def test_cli_syncs_the_shipped_chatbots_without_errors_and_lists_them(base_env, database, owner_conn):
    done = fluxbase(base_env, "chatbots", "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors" in done.stdout
    shipped = sorted(p.parent.name for p in (ROOT / "chatbots").glob("*/index.ts"))
    assert set(shipped) <= set(rows(owner_conn, "default"))

    listed = fluxbase(base_env, "chatbots", "list", "--namespace", "default")
    assert listed.returncode == 0, listed.stderr
    for name in shipped:
        assert name in listed.stdout
    assert "filesystem" in listed.stdout
