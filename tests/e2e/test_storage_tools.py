"""Storage tools end to end: the scripted model uploads a report for Alice and reads it back in one
turn, through the real worker and the real storage folder; Bob, asking the same chatbot, can neither
list nor read it."""
import json
import uuid

from tests.conftest import ALICE, BOB


def _chatbot(database) -> tuple[str, str]:
    from app.chatbots.sync_service import sync_payload

    namespace = f"storage-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Reports\n * @fluxbase:description Keeps reports\n"
            " * @fluxbase:mcp-tools list_objects,upload_object,download_object\n"
            " * @fluxbase:allowed-operations SELECT,INSERT\n"
            # Room for a model that writes an object past the 10 MiB cap into its arguments.
            " * @fluxbase:token-budget 10000000\n */\n"
            "export default `Store and read the user's reports.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "reports", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors and not report.warnings, (report.errors, report.warnings)
    return namespace, "reports"


def _tool_results(events, tool):
    return [e for e in events if e["type"] == "tool_result" and e["tool"] == tool]


def test_alice_uploads_and_downloads_a_report_that_bob_cannot_see(chat, llm, database, owner_conn):
    bucket = f"e2e-{uuid.uuid4().hex[:10]}"
    owner_conn.execute("insert into ai.storage_buckets (name, policy) values (%s, 'private')", (bucket,))
    namespace, name = _chatbot(database)
    report = "Q1 sales: 42 orders, 1234.50 EUR"

    alice = chat(ALICE)
    conversation = alice.start_chat(name, namespace=namespace)["conversation_id"]
    llm.reply_tool_calls([{"name": "upload_object", "arguments": {
        "bucket": bucket, "key": "q1/summary.txt", "content": report, "content_type": "text/plain"}}])
    llm.reply_tool_calls([{"name": "download_object", "arguments": {"bucket": bucket, "key": "q1/summary.txt"}}])
    llm.reply_text("Saved and checked your Q1 summary.")
    events = alice.ask(conversation, "Save my Q1 summary and read it back")
    assert events[-1]["type"] == "done", events[-1]
    [upload] = _tool_results(events, "upload_object")
    assert "error" not in upload and upload["data"]["size"] == len(report) and upload["data"]["key"] == "q1/summary.txt"
    [download] = _tool_results(events, "download_object")
    assert download["data"]["preview"] == report
    third = llm.chat_requests()[-1].messages
    tool_texts = [m["content"] for m in third if m["role"] == "tool"]
    assert tool_texts[0].startswith('Stored "q1/summary.txt"') and report in tool_texts[1]
    assert "untrusted" in tool_texts[1]
    # The bytes are in the server's storage folder, and the metadata names Alice as the owner.
    owner = owner_conn.execute("select owner_id::text from ai.storage_objects where bucket = %s and key = %s",
                               (bucket, "q1/summary.txt")).fetchone()[0]
    assert owner == ALICE
    assert (database.storage_dir / bucket).is_dir()

    bob = chat(BOB)
    conversation = bob.start_chat(name, namespace=namespace)["conversation_id"]
    llm.reply_tool_calls([
        {"name": "list_objects", "arguments": {"bucket": bucket}},
        {"name": "download_object", "arguments": {"bucket": bucket, "key": "q1/summary.txt"}},
    ])
    llm.reply_text("You have no reports.")
    events = bob.ask(conversation, "Show me the Q1 summary")
    assert events[-1]["type"] == "done", events[-1]
    [listing] = _tool_results(events, "list_objects")
    assert listing["data"]["objects"] == []
    [refused] = _tool_results(events, "download_object")
    assert refused["error"] == f"no object q1/summary.txt in bucket {bucket}"
    tool_texts = [m["content"] for m in llm.chat_requests()[-1].messages if m["role"] == "tool"]
    assert json.loads(tool_texts[0].splitlines()[-1]) == [] and report not in json.dumps(tool_texts)


def test_traversal_keys_and_an_oversize_upload_are_refused_in_a_real_turn(chat, llm, database, owner_conn):
    bucket = f"e2e-{uuid.uuid4().hex[:10]}"
    owner_conn.execute("insert into ai.storage_buckets (name, policy) values (%s, 'private')", (bucket,))
    namespace, name = _chatbot(database)
    client = chat(ALICE)
    conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
    hostile = ["../../../etc/passwd", "/etc/passwd", "notes/../../x", "a\u0000b", "..\\..\\boot.ini"]
    oversize = "x" * (database.storage_max_object_bytes + 1)
    llm.reply_tool_calls([{"name": "upload_object", "arguments": {"bucket": bucket, "key": key, "content": "pwned"}}
                          for key in hostile]
                         + [{"name": "upload_object", "arguments": {"bucket": bucket, "key": "big.txt",
                                                                    "content": oversize}}])
    llm.reply_text("I could not store those.")
    events = client.ask(conversation, "Store these files")
    assert events[-1]["type"] == "done", events[-1]
    errors = [e.get("error") for e in _tool_results(events, "upload_object")]
    assert len(errors) == 6 and all(errors), errors
    assert "'..' segments" in errors[0] and "relative" in errors[1] and "'..' segments" in errors[2]
    assert "NUL" in errors[3] and "backslash" in errors[4]
    assert f"longer than {database.storage_max_object_bytes} bytes" in errors[5]
    assert owner_conn.execute("select count(*) from ai.storage_objects where bucket = %s", (bucket,)).fetchone()[0] == 0
    assert not (database.storage_dir / bucket).exists()
