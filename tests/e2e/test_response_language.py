"""@fluxbase:response-language as the model reads it: the system message the scripted LLM server received,
for `auto` and for German written as an ISO code, its English name and its own name."""
import uuid

import pytest

from tests.conftest import TEST_CHATBOT

AUTO = "Answer in the language of the user's latest message."
GERMAN = "Always answer in German, whatever language the user writes in."


@pytest.fixture(scope="module")
def languages(web, database):
    from app.chatbots.sync_service import sync_payload

    namespace = f"lang-{uuid.uuid4().hex[:8]}"
    written = {"auto": "auto", "code": "de", "english": "German", "native": "Deutsch"}
    bots = [{"name": name, "code": TEST_CHATBOT.format(anon="false", max_turns=50, language=language)}
            for name, language in written.items()]
    report = sync_payload(database, namespace=namespace, chatbots=bots, delete_missing=False, dry_run=False)
    assert not report.errors, report.errors
    return namespace


@pytest.mark.parametrize("name, expected, absent", [
    ("auto", AUTO, "Always answer in"),
    ("code", GERMAN, AUTO),
    ("english", GERMAN, AUTO),
    ("native", GERMAN, AUTO),
])
def test_the_prompt_the_model_receives_says_which_language_to_answer_in(chat, llm, languages, name, expected, absent):
    client = chat()
    conversation = client.start_chat(name, namespace=languages)["conversation_id"]
    llm.reply_text("Antwort.")
    events = client.ask(conversation, "Wie viele Bestellungen gibt es?")
    assert events[-1]["type"] == "done", events[-1]
    system = llm.chat_requests()[-1].body["messages"][0]
    assert system["role"] == "system"
    assert expected in system["content"] and absent not in system["content"]
    assert "Deutsch" not in system["content"] and " de," not in system["content"]   # one name, the English one
