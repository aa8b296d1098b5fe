"""The tool vocabulary: every name a chatbot file may use, as docs/chatbots.md lists them."""
import re

from app.tools.catalog import TOOL_NAMES, UnknownTool, is_tool_name
from app.tools.registry import default_registry
from tests.support.processes import ROOT

DOCS = ROOT / "docs" / "chatbots.md"


def test_the_vocabulary_is_the_documented_list_and_covers_every_built_in_tool():
    documented = re.search(r"Tool names a file may use: (.*?)\.\n\n", DOCS.read_text(), re.S).group(1)
    assert tuple(re.findall(r"`([a-z_]+)`", documented)) == TOOL_NAMES
    assert len(set(TOOL_NAMES)) == 16
    assert is_tool_name("search_knowledge_base") and not is_tool_name("drop_database")
    assert str(UnknownTool("execute_sq")) == "unknown tool 'execute_sq' (did you mean 'execute_sql'?)"


def test_a_tool_registered_beyond_the_vocabulary_can_be_named_by_a_file(monkeypatch):
    import app.tools.catalog as catalog
    from app.chatbots.spec import parse_chatbot
    from app.tools.base import Tool

    registry = default_registry()
    registry.register(Tool(name="weather_now", description="The weather now at a place.",
                           parameters={"type": "object", "properties": {}}, scope=None,
                           run=lambda ctx, arguments: "sunny"))
    monkeypatch.setattr(catalog, "default_registry", lambda: registry)
    code = "/**\n * @fluxbase:description Weather\n * @fluxbase:mcp-tools weather_now\n */\nexport default `You tell the weather.`;\n"
    spec = parse_chatbot(code, name="weather", registry=registry)
    assert [tool["name"] for tool in spec.tools] == ["weather_now"] and spec.warnings == ()
    assert is_tool_name("weather_now") and "weather_now" not in TOOL_NAMES
