"""`fluxbase kb` given what a clumsy user gives it: devices and FIFOs, a project directory with its
.git and .env, a provider that does not exist. Each is one clear line or a refused row, never a hang,
a memory blow-up or a traceback."""
import os
import uuid

import pytest

from tests.support.processes import fluxbase


@pytest.fixture
def namespace(owner_conn):
    name = f"clih-{uuid.uuid4().hex[:8]}"
    yield name
    owner_conn.execute("DELETE FROM ai.knowledge_bases WHERE namespace = %s", (name,))


def _base(base_env, namespace):
    created = fluxbase(base_env, "kb", "create", "docs", "--namespace", namespace)
    assert created.returncode == 0, created.stdout + created.stderr


def test_fifos_and_devices_are_refused_without_reading_them(base_env, namespace, tmp_path):
    _base(base_env, namespace)
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    # Reading the FIFO blocked forever; /dev/zero filled memory until the process died.
    result = fluxbase(base_env, "kb", "ingest", "docs", str(fifo), "/dev/zero", "--namespace", namespace,
                      "--no-wait", timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pipe.md is not a regular file" in result.stdout and "/dev/zero is not a regular file" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_file_over_the_upload_limit_is_refused_by_its_size(base_env, namespace, tmp_path):
    _base(base_env, namespace)
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:
        handle.truncate(11 * 1024 * 1024)   # sparse: no need to write 11 MB
    result = fluxbase(base_env, "kb", "ingest", "docs", str(big), "--namespace", namespace, "--no-wait")
    assert result.returncode == 1 and "big.txt is 11534336 bytes; the limit is 10485760" in result.stdout, \
        result.stdout + result.stderr


def test_hidden_files_under_a_directory_are_not_ingested(base_env, namespace, tmp_path):
    _base(base_env, namespace)
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "docs").mkdir()
    (project / ".git" / "config").write_text("[remote]\nurl = https://token@example.com/repo\n")
    (project / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    (project / "docs" / "returns.md").write_text("# Returns\n\nLamps can be returned within 30 days.\n")
    result = fluxbase(base_env, "kb", "ingest", "docs", str(project), "--namespace", namespace, "--no-wait")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "returns.md" in result.stdout
    assert ".env" not in result.stdout and ".git" not in result.stdout
    # A hidden file named on its own is still taken: the user asked for it.
    named = fluxbase(base_env, "kb", "ingest", "docs", str(project / ".env"), "--namespace", namespace, "--no-wait")
    assert named.returncode == 0 and ".env" in named.stdout, named.stdout + named.stderr
    only_hidden = tmp_path / "only-hidden"
    (only_hidden / ".cache").mkdir(parents=True)
    (only_hidden / ".cache" / "a.md").write_text("cached\n")
    empty = fluxbase(base_env, "kb", "ingest", "docs", str(only_hidden), "--namespace", namespace)
    assert empty.returncode == 1 and "no files to ingest" in empty.stderr + empty.stdout


@pytest.mark.parametrize("args, message", [
    (["create", "x", "--embedder", "no-such-provider", "--model", "m", "--dimensions", "8"],
     "--embedder: no provider named no-such-provider"),
    (["list", "--namespace", "bad namespace!"], "--namespace: must be"),
    (["ingest", "docs", "/etc/hostname", "--timeout", "0"], "--timeout: must be more than 0"),
])
def test_mistakes_are_one_line_and_exit_1(base_env, namespace, args, message):
    result = fluxbase(base_env, "kb", *args, "--namespace", namespace) if args[0] != "list" else \
        fluxbase(base_env, "kb", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stdout + result.stderr and "Traceback" not in result.stderr
