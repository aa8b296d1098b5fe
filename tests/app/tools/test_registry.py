"""The tool registry: one place the built-in tools are registered, fresh copies of definitions,
and no tool run that the chatbot was not offered."""
import pytest

from app.tools.registry import DuplicateTool, Tool, ToolRegistry, default_registry
from app.tools.sql_tool import EXECUTE_SQL
from tests.support.tools import echo, make_context


def test_the_built_in_tools_are_registered_in_one_place():
    names = default_registry().names()
    assert names[:2] == ("execute_sql", "http_get")
    assert {"query_table", "insert_record", "update_record", "delete_record", "search_vectors"} <= set(names)
    assert default_registry().get("execute_sql") is EXECUTE_SQL


def test_default_registry_is_fresh_each_time():
    mine = default_registry()
    mine.register(echo())
    assert "echo" in mine and "echo" not in default_registry()


def test_registering_a_duplicate_fails():
    registry = default_registry()
    with pytest.raises(DuplicateTool, match="execute_sql"):
        registry.register(EXECUTE_SQL)
    with pytest.raises(DuplicateTool):
        ToolRegistry([echo(), echo()])
    assert registry.names() == default_registry().names()


def test_definition_is_a_fresh_copy_of_the_model_facing_fields():
    registry = default_registry()
    definition = registry.definition("execute_sql")
    assert set(definition) == {"name", "description", "parameters"}
    assert definition["parameters"]["required"] == ["sql", "description"]
    definition["parameters"]["properties"]["sql"]["description"] = "changed"
    assert registry.definition("execute_sql")["parameters"]["properties"]["sql"]["description"] != "changed"
    with pytest.raises(KeyError):
        registry.definition("search_knowledge_base")


@pytest.mark.parametrize("name", ["Echo", "echo-tool", "", "x" * 65])
def test_tool_names_must_suit_every_provider(name):
    with pytest.raises(ValueError):
        Tool(name=name, description="d", parameters={"type": "object"}, scope=None, run=lambda ctx, args: "")


def test_invoke_refuses_a_registered_tool_that_was_not_offered():
    registry = ToolRegistry([echo()])
    ctx = make_context(lambda event: None, None)
    assert registry.invoke("echo", '{"x": 1}', ctx, {"echo"}) == "echo 1"
    assert registry.invoke("echo", '{"x": 1}', ctx, set()) == "Error: tool 'echo' is not available to this chatbot"
    assert registry.invoke("echo", "[" * 100_000, ctx, {"echo"}).startswith("Error: ")


def test_registered_definitions_are_well_formed():
    registry = default_registry()
    for name in registry.names():
        definition = registry.definition(name)
        assert definition["name"] == name and definition["description"]
        params = definition["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        for prop in params["properties"].values():
            assert prop.get("description")
