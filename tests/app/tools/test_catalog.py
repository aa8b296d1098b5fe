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
    # A new tool's name joins the vocabulary, or no chatbot file could name it.
    assert set(default_registry().names()) <= set(TOOL_NAMES)
    assert is_tool_name("search_knowledge_base") and not is_tool_name("drop_database")
    assert str(UnknownTool("execute_sq")) == "unknown tool 'execute_sq' (did you mean 'execute_sql'?)"
