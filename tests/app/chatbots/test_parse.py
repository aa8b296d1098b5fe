"""Parsing definition files into a ChatbotSpec: shapes, escapes, tools and errors."""

import hashlib
import json
from textwrap import dedent

import pytest

from app.chatbots import (
    ChatbotDefinitionError,
    ChatbotSpec,
    discover_chatbots,
    parse_chatbot,
)
from app.tools.base import Tool
from app.tools.registry import ToolRegistry, default_registry
from app.tools.sql_tool import EXECUTE_SQL
from tests.support.processes import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "chatbots"


def ts(body: str) -> str:
    return dedent(body).lstrip("\n")


def with_prompt(prompt_literal: str, extra: str = "") -> str:
    return f"/**\n * @fluxbase:description d\n{extra} */\nexport default {prompt_literal};\n"


def prompt_of(prompt_literal: str) -> str:
    return parse_chatbot(with_prompt(prompt_literal), name="t").system_prompt


def unavailable(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"


def registry_with(*names: str) -> ToolRegistry:
    """A server that runs execute_sql and stand-ins for these tools."""
    def stub(name):
        return Tool(name=name, description=f"the {name} stub", scope=None, run=lambda ctx, args: "",
                    parameters={"type": "object", "properties": {"url": {"type": "string", "description": "u"}}})
    return ToolRegistry([EXECUTE_SQL, *(stub(name) for name in names)])


def error_of(code, **kw) -> ChatbotDefinitionError:
    kw.setdefault("name", "t")
    with pytest.raises(ChatbotDefinitionError) as info:
        parse_chatbot(code, **kw)
    return info.value


# -- the documented shapes ------------------------------------------------------


def test_full_example_parses_to_the_documented_values():
    path = FIXTURES / "full-example" / "index.ts"
    code = path.read_bytes()
    spec = parse_chatbot(code, name="full-example", path="chatbots/full-example/index.ts")

    assert isinstance(spec, ChatbotSpec)
    assert (spec.namespace, spec.name) == ("default", "full-example")
    assert spec.title == "Shop Helper"
    assert spec.description == "Answers questions about the shop's data"
    assert spec.is_public is True
    assert spec.content_hash == hashlib.sha256(code).hexdigest()
    assert spec.system_prompt.startswith("You look up facts in the shop database.\n\n## What you can do\n1. Run")
    assert "2. **Small results**: add LIMIT 100\n" in spec.system_prompt
    assert spec.system_prompt.endswith("\n\nCurrent user ID: {{user_id}}\n")
    assert spec.to_config_dict() == {
        "allowed_tables": ["products", "orders", "customers"],
        "allowed_operations": ["SELECT"],
        "allowed_schemas": ["public"],
        "max_tokens": 4096,
        "temperature": 0.7,
        "response_language": "auto",
        "persist_conversations": True,
        "conversation_ttl_hours": 24,
        "max_turns": 50,
        "rate_limit_per_minute": 20,
        "daily_request_limit": 500,
        "daily_token_budget": 100000,
        "allow_unauthenticated": False,
        "http_allowed_domains": [],
        "knowledge_bases": [],
        "rag_max_chunks": 5,
        "rag_similarity_threshold": 0.7,
        "required_settings": [],
        "mcp_tools": [],
        "use_mcp_schema": False,
        "approval": [],
        "model": None,
        "provider": None,
    }
    expected_tool = default_registry().definition("execute_sql")
    expected_tool["description"] = "Run a read-only query on the shop database"
    expected_tool["parameters"]["properties"]["sql"]["description"] = "One SELECT statement"
    expected_tool["parameters"]["properties"]["description"]["description"] = "What the query fetches, in a few words"
    assert spec.tools == (expected_tool,) and spec.file_tools == spec.tools and spec.warnings == ()
    json.dumps(spec.to_config_dict())  # JSON-safe
    json.dumps(spec.tools)


def test_spec_is_frozen():
    spec = parse_chatbot(with_prompt("`p`"), name="t")
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.config["max_tokens"] = 1  # type: ignore[index]


def test_http_example_offers_sql_and_http_get():
    spec = parse_chatbot(
        ts("""
        /**
         * Weather Helper
         *
         * @fluxbase:description Answers weather questions from an external API
         * @fluxbase:http-allowed-domains api.openweathermap.org
         * @fluxbase:allowed-tables locations
         */
        export default `Use the http_get tool.
        Current user ID: {{user_id}}
        `;
        """),
        name="weather",
    )
    assert spec.config["http_allowed_domains"] == ("api.openweathermap.org",)
    assert spec.config["allowed_tables"] == ("locations",)
    assert [t["name"] for t in spec.tools] == ["execute_sql", "http_get"]
    assert spec.warnings == ()
    assert spec.system_prompt == "Use the http_get tool.\nCurrent user ID: {{user_id}}\n"


def test_rag_example():
    spec = parse_chatbot(
        ts("""
        /**
         * Help Desk
         *
         * @fluxbase:description Support answers from the knowledge base
         * @fluxbase:knowledge-base product-docs
         * @fluxbase:knowledge-base faq
         * @fluxbase:rag-max-chunks 5
         * @fluxbase:rag-similarity-threshold 0.7
         */
        export default `Answer from the context. {{user_id}}`;
        """),
        name="help",
    )
    assert spec.config["knowledge_bases"] == ("product-docs", "faq")
    assert spec.config["rag_max_chunks"] == 5
    assert spec.config["rag_similarity_threshold"] == 0.7
    assert [t["name"] for t in spec.tools] == ["execute_sql"]  # RAG adds no tool


MCP_EXAMPLE = ts("""
        /**
         * Orders
         *
         * @fluxbase:description Manages orders
         * @fluxbase:allowed-tables orders,order_items,products,analytics.order_metrics
         * @fluxbase:mcp-tools query_table,insert_record,invoke_function
         * @fluxbase:use-mcp-schema
         */
        export default `Manage orders for {{user_id}}`;
        """)


def test_mcp_example_with_bare_use_mcp_schema_and_qualified_tables():
    spec = parse_chatbot(MCP_EXAMPLE, name="orders", registry=registry_with())
    assert spec.config["use_mcp_schema"] is True
    assert spec.config["allowed_tables"] == ("orders", "order_items", "products", "analytics.order_metrics")
    # None of them runs on a server without them: each is a warning, and the model is offered nothing.
    assert spec.tools == () and spec.file_tools is None
    assert spec.warnings == tuple(unavailable(n) for n in ("query_table", "insert_record", "invoke_function"))


def test_mcp_tools_are_offered_by_a_server_that_runs_them():
    registry = registry_with("query_table", "insert_record", "invoke_function")
    spec = parse_chatbot(MCP_EXAMPLE, name="orders", registry=registry)
    assert [t["name"] for t in spec.tools] == ["query_table", "insert_record", "invoke_function"]
    assert spec.tools[0] == registry.definition("query_table") and spec.warnings == ()


def test_settings_templates_are_left_for_runtime():
    spec = parse_chatbot(
        ts("""
        /**
         * Places
         *
         * @fluxbase:description Finds places
         * @fluxbase:required-settings pelias.endpoint,google.maps.api_key
         */
        export default `Endpoint: {{system:pelias.endpoint}}
        Key: {{user:google.maps.api_key}}
        Theme: {{theme.mode}}
        Current user: {{user_id}}
        `;
        """),
        name="places",
    )
    assert spec.config["required_settings"] == ("pelias.endpoint", "google.maps.api_key")
    assert "{{system:pelias.endpoint}}" in spec.system_prompt
    assert "{{user:google.maps.api_key}}" in spec.system_prompt


def test_title_missing_is_none_and_annotation_only_doc_works():
    spec = parse_chatbot("/** @fluxbase:description only tags */\nexport default 'x';", name="t")
    assert spec.title is None
    assert spec.description == "only tags"


def test_license_header_before_the_doc_comment_is_ignored():
    code = "/** Copyright 2024 Example */\nimport type { X } from './x';\n/**\n * Real Title\n * @fluxbase:description d\n */\nexport default `p`;\n"
    spec = parse_chatbot(code, name="t")
    assert spec.title == "Real Title"


# -- prompt literals and escapes ------------------------------------------------


@pytest.mark.parametrize(
    "literal, expected",
    [
        (r"`a\`b`", "a`b"),
        (r"`line\nnext\ttab`", "line\nnext\ttab"),
        (r"`smile \u{1F600}`", "smile \U0001F600"),
        (r"`cost \${price}`", "cost ${price}"),
        (r"`$ and {braces} and $notasub`", "$ and {braces} and $notasub"),
        (r"`back\\slash`", "back\\slash"),
        (r"`\u00e9\x41\uD83D\uDE00`", "\u00e9A\U0001F600"),
        (r"`keep \q as q`", "keep q as q"),
        ("`one \\\ntwo`", "one two"),
        ("`raw\nnewline`", "raw\nnewline"),
        ("`crlf\r\nline`", "crlf\nline"),
        ("`nul\\0`", "nul\0"),
        ("'single \\'q\\' \"d\"'", "single 'q' \"d\""),
        ('"double \\"q\\" \\u0041"', 'double "q" A'),
        ("('parenthesised')", "parenthesised"),
        ("(`template in parens`)", "template in parens"),
    ],
)
def test_prompt_literals_are_cooked_like_javascript(literal, expected):
    assert prompt_of(literal) == expected


@pytest.mark.parametrize(
    "literal, message",
    [
        (r"`bad \u12`", "invalid escape sequence"),
        (r"`bad \x4`", "invalid escape sequence"),
        (r"`bad \u{110000}`", "invalid escape sequence"),
        (r"`octal \12`", "octal escapes"),
        (r"`lone \uD83D`", "lone UTF-16 surrogate"),
    ],
)
def test_bad_escapes(literal, message):
    assert message in str(error_of(with_prompt(literal)))


def test_substitution_is_refused_with_its_line_and_a_hint():
    code = ts("""
        /**
         * @fluxbase:description d
         */
        export default `Hello
        user ${userId}
        `;
        """)
    err = error_of(code, path="chatbots/t/index.ts")
    assert err.line == 5
    assert "{{...}}" in err.message
    assert str(err).startswith("chatbots/t/index.ts:5: ")


def test_unterminated_template_literal_names_its_line():
    code = "/**\n * @fluxbase:description d\n */\nexport default `never closed\n\nmore text;\n"
    err = error_of(code, path="chatbots/t/index.ts")
    assert err.line == 4
    assert "unterminated template literal" in err.message


def test_other_syntax_errors_name_the_line():
    err = error_of(with_prompt("`ok`") + "export const tools = [{ name: 'execute_sql' ;\n")
    assert err.line == 5
    assert "syntax error" in err.message


def test_missing_export_default():
    err = error_of("/** @fluxbase:description d */\nexport const tools = [];\n")
    assert "missing `export default`" in err.message


@pytest.mark.parametrize("value", ["prompt", "makePrompt()", "`a` + `b`", "String.raw`x`", "function f() {}"])
def test_export_default_of_anything_else(value):
    err = error_of(f"/** @fluxbase:description d */\nexport default {value};\n")
    assert "export default" in err.message
    assert err.line == 2


def test_empty_prompt_is_refused():
    assert "empty" in error_of(with_prompt("`  \n `")).message


def test_non_utf8_bytes_name_the_file_and_line():
    code = with_prompt("`caf\xe9`").encode("latin-1")
    err = error_of(code, path="chatbots/t/index.ts")
    assert err.path_or_name == "chatbots/t/index.ts"
    assert err.line == 4
    assert "UTF-8" in str(err)


def test_utf8_bom_is_accepted():
    assert parse_chatbot(b"\xef\xbb\xbf" + with_prompt("`p`").encode(), name="t").system_prompt == "p"


def test_the_spec_keeps_the_text_exactly_as_given():
    # What the admin API shows as `code`: every byte of the definition, the BOM the parser skips included.
    raw = b"\xef\xbb\xbf" + with_prompt("`Gr\xc3\xbc\xc3\x9fe \xf0\x9f\x91\x8b`").encode().replace(b"\n", b"\r\n") + b"\t \r\n"
    spec = parse_chatbot(raw, name="t")
    assert spec.code.encode("utf-8") == raw and spec.code.startswith("\ufeff")
    assert hashlib.sha256(spec.code.encode("utf-8")).hexdigest() == spec.content_hash
    text = with_prompt("`p`")
    assert parse_chatbot(text, name="t").code == text


def test_annotation_outside_the_doc_comment_is_an_error():
    code = with_prompt("`p`") + "// @fluxbase:rate-limit 5\n"
    err = error_of(code)
    assert err.line == 5
    assert "doc comment" in err.message


def test_invalid_names_are_refused():
    assert "invalid chatbot name" in error_of(with_prompt("`p`"), name="Bad Name").message
    assert "invalid chatbot namespace" in error_of(with_prompt("`p`"), namespace="-x").message


# -- the tools literal ------------------------------------------------------------


def tools_file(tools_literal: str, extra_annotations: str = "") -> str:
    return with_prompt("`p`", extra_annotations) + f"export const tools = {tools_literal};\n"


def test_tools_literal_forms_are_accepted():
    code = tools_file(
        """[
          // comment inside
          { "name": `execute_sql`, 'description': 'Run it', parameters: { type: "object",
            properties: { sql: { type: 'string', description: "The query", }, }, required: ["sql",], extra: [1, -2.5, 0x10, 1_000, true, false, null] } },
        ] as const"""
    )
    spec = parse_chatbot(code, name="t")
    assert spec.tools[0]["description"] == "Run it"
    assert spec.tools[0]["parameters"]["properties"]["sql"]["description"] == "The query"
    assert spec.tools[0]["parameters"]["required"] == ["sql", "description"]  # the built-in decides


def test_typed_tools_declaration_and_empty_list():
    spec = parse_chatbot(with_prompt("`p`") + "export const tools: Tool[] = [];\n", name="t")
    assert spec.tools == ()


def test_explicit_tools_win_over_mcp_tools():
    code = tools_file('[{ name: "query_table" }]', " * @fluxbase:mcp-tools insert_record\n")
    assert [t["name"] for t in parse_chatbot(code, name="t", registry=registry_with("query_table", "insert_record")).tools] == [
        "query_table"]
    spec = parse_chatbot(code, name="t", registry=registry_with())
    assert spec.tools == () and spec.warnings == (unavailable("query_table"),)


HTTP_ENTRY = ('[{ name: "http_get", description: "Fetch the weather", '
              'parameters: { properties: { city: { description: "not a parameter of http_get" } } } }, '
              '{ name: "execute_sql" }]')
DOMAINS = " * @fluxbase:http-allowed-domains api.example.com\n"


def test_a_tools_entry_this_server_cannot_run_is_kept_by_name_and_is_a_warning():
    spec = parse_chatbot(tools_file(HTTP_ENTRY, DOMAINS), name="t", registry=registry_with())  # a server without http_get
    # Its wording cannot be checked without the tool, so the entry is accepted and only its name kept.
    assert [t["name"] for t in spec.tools] == ["execute_sql"]
    assert spec.file_tools == ({"name": "http_get"}, spec.tools[0])
    assert spec.warnings == (unavailable("http_get"),)


def test_a_tools_entry_is_checked_against_the_tool_once_the_server_runs_it():
    err = error_of(tools_file(HTTP_ENTRY, DOMAINS), registry=registry_with("http_get"))
    assert "no parameter 'city'" in err.message and err.line == 6


@pytest.mark.parametrize("literal, message", [
    ('[{ name: "query_table", run: true }]', "unsupported key"),
    ('["query_table"]', "must be an object"),
    ('[{ name: "query_tabel" }]', "did you mean 'query_table'"),
    ('[{ name: "query_table" }, { name: "query_table" }]', "listed twice"),
])
def test_a_tools_entry_of_an_unavailable_tool_still_has_the_entry_shape(literal, message):
    assert message in str(error_of(tools_file(literal)))


@pytest.mark.parametrize(
    "literal, message",
    [
        ('[{ name: "drop_database" }]', "unknown tool 'drop_database'"),
        ('[{ name: "execute_sq" }]', "did you mean 'execute_sql'"),
        ("[{ name: toolName }]", "identifier"),
        ("[...baseTools]", "spread"),
        ('[{ ["name"]: "execute_sql" }]', "computed key"),
        ('[{ name: "execute_sql", description: describe() }]', "function call"),
        ("[{ name }]", "shorthand property"),
        ('[{ name: "execute_sql", d: `a${b}` }]', "substitutions"),
        ('[{ name: "execute_sql", name: "http_get" }]', "duplicate key"),
        ('[{ name: "execute_sql" }, { name: "execute_sql" }]', "listed twice"),
        ('[{ name: "execute_sql", run: true }]', "unsupported key"),
        ('["execute_sql"]', "must be an object"),
        ('[{ name: "execute_sql", parameters: { properties: { limit: { type: "number" } } } }]', "no parameter 'limit'"),
        ('[{ name: "execute_sql", parameters: { properties: { sql: { type: "number" } } } }]', "does not match"),
        ('[{ name: "http_get" }]', "no domain is allowed"),
    ],
)
def test_bad_tools_entries_name_the_line(literal, message):
    code = tools_file(literal)
    err = error_of(code)
    assert message in str(err)
    assert err.line == 5


def test_tools_must_be_an_array_literal():
    assert "array literal" in error_of(with_prompt("`p`") + "export const tools = makeTools();\n").message


def test_reexported_tools_are_refused():
    code = with_prompt("`p`") + "const t = [];\nexport { t as tools };\n"
    assert "export `tools` directly" in error_of(code).message


# -- what we ship -------------------------------------------------------------------


def test_every_shipped_chatbot_parses():
    sources = discover_chatbots(ROOT / "chatbots")
    names = {s.name for s in sources}
    assert {
        "sql-assistant",
        "my-assistant",
        "weather-assistant",
        "support-assistant",
        "order-management",
        "location-assistant",
        "german-support",
    } <= names
    for source in sources:
        spec = parse_chatbot(source.code, name=source.name, namespace=source.namespace, path=source.path)
        assert spec.description and spec.title
        assert "{{user_id}}" in spec.system_prompt
        assert "##" in spec.system_prompt


def shipped(name: str):
    path = ROOT / "chatbots" / name / "index.ts"
    return parse_chatbot(path.read_bytes(), name=name, path=str(path))


def test_sql_assistant_is_read_only_over_the_shop_tables():
    spec = shipped("sql-assistant")
    assert spec.config["allowed_operations"] == ("SELECT",)
    assert set(spec.config["allowed_tables"]) == {"customers", "products", "orders", "order_items"}
    assert [t["name"] for t in spec.tools] == ["execute_sql"]
    assert "Top 10 users" in spec.system_prompt


def test_shipped_specifics():
    assert shipped("german-support").config["response_language"] == "German"
    assert shipped("weather-assistant").config["http_allowed_domains"] == ("api.openweathermap.org",)
    assert shipped("support-assistant").config["knowledge_bases"] == ("product-docs", "faq")
    order = shipped("order-management")
    assert order.config["use_mcp_schema"] is True
    assert list(order.config["approval"]) == ["insert_record=ask"]  # docs/approval.md
    assert "analytics.order_metrics" in order.config["allowed_tables"]
    offered = [t["name"] for t in order.tools]
    assert {"query_table", "insert_record"} <= set(offered)
    # Each named tool is offered or, if this server lacks it, a warning.
    assert len(offered) + len(order.warnings) == 3
    location = shipped("location-assistant")
    assert location.config["required_settings"]
    for template in ("{{system:", "{{user:", "{{location."):
        assert template in location.system_prompt
