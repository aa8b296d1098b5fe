"""Finding chatbot files on disk."""

import pickle

import pytest

from app.chatbots import (
    ChatbotDefinitionError,
    ChatbotSource,
    DiscoveryError,
    discover_chatbots,
    scan_chatbots,
)

CODE = b"/** @fluxbase:description d */\nexport default `p`;\n"


def write(root, relative: str, code: bytes = CODE):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(code)
    return path


def test_all_three_layouts(tmp_path):
    write(tmp_path, "flat.ts")
    write(tmp_path, "folder/index.ts")
    write(tmp_path, "sales/reports/index.ts")
    write(tmp_path, "sales/forecast/index.ts")
    sources = discover_chatbots(tmp_path)
    assert [(s.namespace, s.name) for s in sources] == [
        ("default", "flat"),
        ("default", "folder"),
        ("sales", "forecast"),
        ("sales", "reports"),
    ]
    first = sources[0]
    assert isinstance(first, ChatbotSource)
    assert first.code == CODE
    assert first.path == str(tmp_path / "flat.ts")


def test_skipped_folders_and_files(tmp_path):
    write(tmp_path, ".hidden/index.ts")
    write(tmp_path, ".draft.ts")
    write(tmp_path, "node_modules/pkg/index.ts")
    write(tmp_path, "_shared/index.ts")
    write(tmp_path, "team/_shared/index.ts")
    write(tmp_path, "team/.wip/index.ts")
    write(tmp_path, "types.d.ts")
    write(tmp_path, "README.md", b"docs")
    write(tmp_path, "empty-namespace/notes.txt", b"")
    write(tmp_path, "bot/helpers/index.ts")  # a chatbot folder's own files
    write(tmp_path, "bot/index.ts")
    assert [(s.namespace, s.name) for s in discover_chatbots(tmp_path)] == [("default", "bot")]


def test_same_name_twice_names_both_paths(tmp_path):
    flat = write(tmp_path, "x.ts")
    folder = write(tmp_path, "x/index.ts")
    with pytest.raises(DiscoveryError) as info:
        discover_chatbots(tmp_path)
    message = str(info.value)
    assert str(flat) in message and str(folder) in message
    assert (info.value.namespace, info.value.name) == ("default", "x")


@pytest.mark.parametrize("relative", ["Bad Name/index.ts", "UPPER.ts", "-dash/index.ts", "x.test.ts", "Team/bot/index.ts", f"{'a' * 64}.ts"])
def test_invalid_names(tmp_path, relative):
    write(tmp_path, relative)
    with pytest.raises(DiscoveryError, match="invalid"):
        discover_chatbots(tmp_path)


def test_scan_keeps_going_and_reports_errors(tmp_path):
    write(tmp_path, "good.ts")
    write(tmp_path, "dup.ts")
    write(tmp_path, "dup/index.ts")
    write(tmp_path, "Bad.ts")
    result = scan_chatbots(tmp_path)
    assert [s.name for s in result.sources] == ["good"]
    assert sorted(e.name for e in result.errors) == ["Bad", "dup"]
    assert all(isinstance(e, ChatbotDefinitionError) for e in result.errors)


def test_unreadable_file_is_a_typed_error(tmp_path, monkeypatch):
    write(tmp_path, "good.ts")
    locked = write(tmp_path, "locked.ts")
    real_open = type(locked).open

    def refuse(self, *args, **kwargs):
        if self.name == "locked.ts":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(type(locked), "open", refuse)
    with pytest.raises(DiscoveryError, match="cannot read file: Permission denied") as info:
        discover_chatbots(tmp_path)
    assert info.value.path_or_name == str(locked) and info.value.name == "locked"
    assert [s.name for s in scan_chatbots(tmp_path).sources] == ["good"]


def test_folder_named_index_ts_does_not_make_a_chatbot(tmp_path):
    (tmp_path / "weird" / "index.ts").mkdir(parents=True)
    # index.ts is a folder, so `weird` is not a chatbot but a (then empty) namespace
    write(tmp_path / "weird", "inner/index.ts")
    assert [(s.namespace, s.name) for s in discover_chatbots(tmp_path)] == [("weird", "inner")]


def test_oversized_file(tmp_path):
    write(tmp_path, "big.ts", b"x" * (1024 * 1024 + 1))
    with pytest.raises(DiscoveryError, match="larger than"):
        discover_chatbots(tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(DiscoveryError, match="not found"):
        discover_chatbots(tmp_path / "nope")


def test_errors_survive_pickling():
    err = DiscoveryError("a/b.ts", "boom", namespace="default", name="b")
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.name) == (str(err), "b")
    base = ChatbotDefinitionError("x.ts", 3, "bad", annotation="temperature")
    assert str(pickle.loads(pickle.dumps(base))) == "x.ts:3: @fluxbase:temperature: bad"
