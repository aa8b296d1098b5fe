"""http_get end to end: a chatbot with an allowed domain, the scripted model asking for a URL on a local
server, the real worker fetching it (the session stack runs in development, so http to a listed
loopback host is allowed), the client getting the tool_result, and the model's next request carrying the body."""
import json
import uuid

from tests.support.http_servers import INTERNAL, LocalHttpServer, json_response


def _chatbot(database, port: int) -> tuple[str, str]:
    from app.chatbots.sync_service import sync_payload

    namespace = f"http-{uuid.uuid4().hex[:8]}"
    code = ("/**\n * Weather\n * @fluxbase:description Weather from an API\n"
            f" * @fluxbase:http-allowed-domains 127.0.0.1:{port}\n */\n"
            "export default `Use the http_get tool to fetch the weather.`;\n")
    report = sync_payload(database, namespace=namespace, chatbots=[{"name": "weather", "code": code}],
                          delete_missing=False, dry_run=False)
    assert not report.errors and not report.warnings
    return namespace, "weather"


def test_the_model_fetches_a_url_and_reads_the_body(chat, llm, database):
    forecast = {"city": "Berlin", "temperature_c": 21.5, "sky": "clear"}
    with LocalHttpServer(lambda request: json_response(forecast), host=INTERNAL) as server:
        namespace, name = _chatbot(database, server.port)
        client = chat()
        conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
        url = f"http://127.0.0.1:{server.port}/weather?city=Berlin"
        llm.reply_tool_calls([{"name": "http_get", "arguments": {"url": url, "params": {"units": "metric"}}}])
        llm.reply_text("It is 21.5 °C and clear in Berlin.")
        events = client.ask(conversation, "Weather in Berlin?")
    assert events[-1]["type"] == "done", events[-1]
    assert [(r.method, r.target) for r in server.requests] == [("GET", "/weather?city=Berlin&units=metric")]
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["tool"] == "http_get" and "error" not in result
    assert result["data"]["status"] == 200 and result["data"]["url"] == url + "&units=metric"
    assert result["data"]["preview"] == json.dumps(forecast)
    first, second = llm.chat_requests()[-2:]
    assert "http_get" in [tool["function"]["name"] for tool in first.body["tools"]]
    tool_message = next(m for m in second.messages if m["role"] == "tool")
    assert tool_message["content"].startswith("HTTP 200 from ")
    assert json.dumps(forecast) in tool_message["content"] and "untrusted" in tool_message["content"]


def test_a_refused_url_reaches_the_model_as_an_error_and_the_client_as_a_tool_error(chat, llm, database):
    with LocalHttpServer(lambda request: json_response({}), host=INTERNAL) as server:
        namespace, name = _chatbot(database, server.port)
        client = chat()
        conversation = client.start_chat(name, namespace=namespace)["conversation_id"]
        llm.reply_tool_calls([{"name": "http_get", "arguments": {"url": "http://169.254.169.254/latest/meta-data/"}}])
        llm.reply_text("I cannot fetch that.")
        events = client.ask(conversation, "Read the metadata")
    assert events[-1]["type"] == "done" and server.requests == []
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["error"] == "169.254.169.254 is a cloud metadata address; requests to internal addresses are refused"
    tool_message = next(m for m in llm.chat_requests()[-1].messages if m["role"] == "tool")
    assert tool_message["content"] == "Error: " + result["error"]
