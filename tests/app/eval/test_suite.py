"""Case files sit next to chatbot files without changing what discovery (and so a sync) finds."""
from __future__ import annotations

from app.chatbots.discovery import discover_chatbots
from app.eval.suite import find_case_files

BOT = "/** @fluxbase:allowed-operations SELECT */\nexport default `x`;\n"


def test_case_files_next_to_each_layout_are_found_and_ignored_by_discovery(tmp_path):
    (tmp_path / "folder-bot").mkdir()
    (tmp_path / "folder-bot" / "index.ts").write_text(BOT)
    (tmp_path / "folder-bot" / "eval.yaml").write_text("cases: []\n")
    (tmp_path / "file-bot.ts").write_text(BOT)
    (tmp_path / "file-bot.eval.yml").write_text("cases: []\n")
    (tmp_path / "shop" / "ns-bot").mkdir(parents=True)
    (tmp_path / "shop" / "ns-bot" / "index.ts").write_text(BOT)
    (tmp_path / "shop" / "ns-bot" / "eval.yaml").write_text("cases: []\n")
    (tmp_path / "no-cases.ts").write_text(BOT)
    (tmp_path / "eval.yaml").write_text("cases: []\n")   # belongs to no chatbot: ignored

    sources = discover_chatbots(tmp_path)
    assert [(s.namespace, s.name) for s in sources] == [
        ("default", "file-bot"), ("default", "folder-bot"), ("default", "no-cases"), ("shop", "ns-bot")]
    found = find_case_files(tmp_path)
    assert [(f.namespace, f.name, f.path.relative_to(tmp_path).as_posix()) for f in found] == [
        ("default", "file-bot", "file-bot.eval.yml"), ("default", "folder-bot", "folder-bot/eval.yaml"),
        ("shop", "ns-bot", "shop/ns-bot/eval.yaml")]
    assert [f.name for f in find_case_files(tmp_path, chatbot="ns-bot", namespace="shop")] == ["ns-bot"]
    assert find_case_files(tmp_path, chatbot="ns-bot", namespace="default") == []
