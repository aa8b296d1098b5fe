"""`fluxbase kb ...`, run as a user runs it, on the real database with the real embeddings worker."""
import uuid

import pytest

from tests.support.processes import fluxbase


@pytest.fixture
def namespace(owner_conn):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    yield name
    owner_conn.execute("DELETE FROM ai.knowledge_bases WHERE namespace = %s", (name,))


def test_create_ingest_search_list_delete(base_env, embeddings_worker, namespace, tmp_path):
    created = fluxbase(base_env, "kb", "create", "shop-docs", "--namespace", namespace, "--chunk-size", "120")
    assert created.returncode == 0, created.stderr
    assert "shop-docs" in created.stdout and "384 dimensions" in created.stdout
    (tmp_path / "returns.md").write_text("# Returns\n\nLamps can be sent back within 30 days for a refund.\n")
    (tmp_path / "shipping.txt").write_text("Orders ship within two business days.\n")
    (tmp_path / "empty.txt").write_text("")
    ingested = fluxbase(base_env, "kb", "ingest", "shop-docs", str(tmp_path / "returns.md"),
                        str(tmp_path / "shipping.txt"), str(tmp_path / "empty.txt"), "--namespace", namespace,
                        timeout=180)
    # The empty file is refused (exit 1), the two others are indexed.
    assert ingested.returncode == 1, ingested.stdout + ingested.stderr
    assert "files" in ingested.stdout and "chunks" in ingested.stdout  # the progress bars
    assert "2 of 3 files indexed" in ingested.stdout, ingested.stdout
    assert "refused" in ingested.stdout and "empty" in ingested.stdout
    again = fluxbase(base_env, "kb", "ingest", "shop-docs", str(tmp_path / "returns.md"), "--namespace", namespace)
    assert again.returncode == 0 and "same content already there" in again.stdout, again.stdout

    found = fluxbase(base_env, "kb", "search", "shop-docs", "how long can I return a lamp?", "--namespace",
                     namespace, "--threshold", "0.2")
    assert found.returncode == 0, found.stderr
    assert "Returns" in found.stdout and "30 days" in found.stdout
    listing = fluxbase(base_env, "kb", "list", "--namespace", namespace)
    assert listing.returncode == 0 and "shop-docs" in listing.stdout
    deleted = fluxbase(base_env, "kb", "delete", "shop-docs", "--namespace", namespace)
    assert deleted.returncode == 0 and "2 documents" in deleted.stdout, deleted.stdout


@pytest.mark.parametrize("args, message", [
    (["create", "bad name!"], "NAME: must be"),
    (["create", "x", "--chunking", "words"], "--chunking: must be one of"),
    (["create", "x", "--embedder", "openai"], "--model: a provider embedder needs"),
    (["search", "missing-base", "hello"], "no knowledge base missing-base"),
    (["ingest", "missing-base", "/nonexistent/file.md"], "no knowledge base missing-base"),
    (["delete", "missing-base"], "no knowledge base missing-base"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(base_env, namespace, args, message):
    done = fluxbase(base_env, "kb", *args, "--namespace", namespace)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_duplicate_name_is_refused(base_env, namespace):
    assert fluxbase(base_env, "kb", "create", "faq", "--namespace", namespace).returncode == 0
    again = fluxbase(base_env, "kb", "create", "faq", "--namespace", namespace)
    assert again.returncode == 1 and "exists" in again.stderr
