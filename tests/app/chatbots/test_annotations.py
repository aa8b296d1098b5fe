"""Annotations: defaults, every accepted syntax, errors, tool selection, REST config validation, server policy."""

import pytest

from app.chatbots import (
    CONFIG_KEYS,
    ChatbotDefinitionError,
    ConfigError,
    ServerPolicy,
    default_config,
    effective_config,
    parse_chatbot,
    select_tools,
    validate_config,
)
from app.chatbots.annotations import ANNOTATIONS
from app.chatbots.spec import declared_tool_names, tool_warnings
from app.tools.base import Tool
from app.tools.registry import ToolRegistry, default_registry
from app.tools.sql_tool import EXECUTE_SQL

DEFAULTS = {
    "allowed_tables": ["*"],
    "allowed_operations": ["SELECT"],
    "allowed_schemas": ["public"],
    "max_tokens": 4096,
    "temperature": 0.7,
    "response_language": "auto",
    "persist_conversations": False,
    "conversation_ttl_hours": 24,
    "max_turns": 50,
    "rate_limit_per_minute": 10,
    "daily_request_limit": 100,
    "daily_token_budget": 50000,
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


def file_with(*lines: str) -> str:
    body = "".join(f" * {line}\n" for line in lines)
    return f"/**\n * Title\n *\n * @fluxbase:description d\n{body} */\nexport default `p`;\n"


def spec_with(*lines: str, registry=None):
    return parse_chatbot(file_with(*lines), name="t", path="chatbots/t/index.ts", registry=registry)


def stub(name: str) -> Tool:
    return Tool(name=name, description=f"the {name} stub",
                parameters={"type": "object", "properties": {"q": {"type": "string", "description": "q"}}},
                scope=None, run=lambda ctx, args: "")


def registry_with(*names: str) -> ToolRegistry:
    """A server that runs execute_sql and these (stand-ins for tools this server does not have yet)."""
    return ToolRegistry([EXECUTE_SQL, *(stub(name) for name in names)])


def unavailable(name: str) -> str:
    return f"{name}: not available on this server; it is not offered to the model"


def error_with(*lines: str) -> ChatbotDefinitionError:
    with pytest.raises(ChatbotDefinitionError) as info:
        spec_with(*lines)
    return info.value


def test_defaults_match_the_documented_table():
    spec = spec_with()
    assert spec.to_config_dict() == DEFAULTS
    assert list(CONFIG_KEYS) == list(DEFAULTS)
    assert default_config() == DEFAULTS
    assert spec.is_public is True
    assert [t["name"] for t in spec.tools] == ["execute_sql"]


def test_every_annotation_is_in_the_table():
    assert set(ANNOTATIONS) == {
        "description", "allowed-tables", "allowed-operations", "allowed-schemas", "max-tokens",
        "temperature", "response-language", "persist-conversations", "conversation-ttl", "max-turns",
        "rate-limit", "daily-limit", "token-budget", "allow-unauthenticated", "public",
        "http-allowed-domains", "knowledge-base", "rag-max-chunks", "rag-similarity-threshold",
        "required-settings", "mcp-tools", "use-mcp-schema", "approval", "model", "provider",
    }  # fmt: skip


@pytest.mark.parametrize(
    "line, key, expected",
    [
        ("@fluxbase:allowed-tables products, Orders ,customers", "allowed_tables", ("products", "orders", "customers")),
        ("@fluxbase:allowed-tables users,orders,analytics.metrics,billing.invoices", "allowed_tables", ("users", "orders", "analytics.metrics", "billing.invoices")),
        ("@fluxbase:allowed-tables *", "allowed_tables", ("*",)),
        ("@fluxbase:allowed-tables orders,*", "allowed_tables", ("*",)),
        ("@fluxbase:allowed-tables", "allowed_tables", ()),
        ("@fluxbase:allowed-operations select, insert,UPDATE,Delete", "allowed_operations", ("SELECT", "INSERT", "UPDATE", "DELETE")),
        ("@fluxbase:allowed-schemas public,Analytics", "allowed_schemas", ("public", "analytics")),
        ("@fluxbase:max-tokens 2048", "max_tokens", 2048),
        ("@fluxbase:max-tokens 8_192", "max_tokens", 8192),
        ("@fluxbase:temperature 0", "temperature", 0.0),
        ("@fluxbase:temperature 2.0", "temperature", 2.0),
        ("@fluxbase:temperature 1.25", "temperature", 1.25),
        ("@fluxbase:response-language auto", "response_language", "auto"),
        ("@fluxbase:response-language AUTO", "response_language", "auto"),
        ("@fluxbase:response-language German", "response_language", "German"),
        ("@fluxbase:response-language de", "response_language", "German"),
        ("@fluxbase:response-language Deutsch", "response_language", "German"),
        ("@fluxbase:response-language Français", "response_language", "French"),
        ("@fluxbase:response-language francais", "response_language", "French"),
        ("@fluxbase:response-language Español", "response_language", "Spanish"),
        ("@fluxbase:response-language es", "response_language", "Spanish"),
        ("@fluxbase:response-language pt-BR", "response_language", "Portuguese"),
        ("@fluxbase:response-language 日本語", "response_language", "Japanese"),
        ("@fluxbase:response-language zh", "response_language", "Chinese"),
        ("@fluxbase:conversation-ttl 48", "conversation_ttl_hours", 48),
        ("@fluxbase:conversation-ttl 24h", "conversation_ttl_hours", 24),
        ("@fluxbase:conversation-ttl 12 hours", "conversation_ttl_hours", 12),
        ("@fluxbase:conversation-ttl 2d", "conversation_ttl_hours", 48),
        ("@fluxbase:max-turns 10", "max_turns", 10),
        ("@fluxbase:rate-limit 20", "rate_limit_per_minute", 20),
        ("@fluxbase:rate-limit 20/min", "rate_limit_per_minute", 20),
        ("@fluxbase:rate-limit 20/minute", "rate_limit_per_minute", 20),
        ("@fluxbase:rate-limit 20 per minute", "rate_limit_per_minute", 20),
        ("@fluxbase:rate-limit 20 # 20 requests per minute", "rate_limit_per_minute", 20),
        ("@fluxbase:daily-limit 500", "daily_request_limit", 500),
        ("@fluxbase:daily-limit 500/day", "daily_request_limit", 500),
        ("@fluxbase:daily-limit 500 # 500 requests per day", "daily_request_limit", 500),
        ("@fluxbase:token-budget 100000", "daily_token_budget", 100000),
        ("@fluxbase:token-budget 100000/day", "daily_token_budget", 100000),
        ("@fluxbase:token-budget 100k", "daily_token_budget", 100000),
        ("@fluxbase:token-budget 100K/day", "daily_token_budget", 100000),
        ("@fluxbase:token-budget 2m", "daily_token_budget", 2000000),
        ("@fluxbase:token-budget 100000 # 100k tokens per day", "daily_token_budget", 100000),
        ("@fluxbase:http-allowed-domains api.example.com,data.weather.gov", "http_allowed_domains", ("api.example.com", "data.weather.gov")),
        ("@fluxbase:http-allowed-domains API.Example.com, localhost:8080", "http_allowed_domains", ("api.example.com", "localhost:8080")),
        ("@fluxbase:http-allowed-domains *.Weather.gov,api.example.com:8443", "http_allowed_domains", ("*.weather.gov", "api.example.com:8443")),
        ("@fluxbase:http-allowed-domains", "http_allowed_domains", ()),
        ("@fluxbase:knowledge-base product-docs", "knowledge_bases", ("product-docs",)),
        ("@fluxbase:knowledge-base faq, guides,faq", "knowledge_bases", ("faq", "guides")),
        ("@fluxbase:rag-max-chunks 8", "rag_max_chunks", 8),
        ("@fluxbase:rag-similarity-threshold 0.55", "rag_similarity_threshold", 0.55),
        ("@fluxbase:rag-similarity-threshold 1", "rag_similarity_threshold", 1.0),
        ("@fluxbase:required-settings pelias.endpoint,google.api_key,my-key", "required_settings", ("pelias.endpoint", "google.api_key", "my-key")),
        ("@fluxbase:mcp-tools query_table, insert_record,invoke_function", "mcp_tools", ("query_table", "insert_record", "invoke_function")),
        ("@fluxbase:mcp-tools", "mcp_tools", ()),
        ("@fluxbase:use-mcp-schema", "use_mcp_schema", True),
        ("@fluxbase:use-mcp-schema false", "use_mcp_schema", False),
        ("@fluxbase:model gpt-4o-mini", "model", "gpt-4o-mini"),
        ("@fluxbase:provider openai-main", "provider", "openai-main"),
    ],
)
def test_accepted_syntax(line, key, expected):
    assert spec_with(line).config[key] == expected


@pytest.mark.parametrize(
    "annotation, key",
    [
        ("persist-conversations", "persist_conversations"),
        ("allow-unauthenticated", "allow_unauthenticated"),
        ("use-mcp-schema", "use_mcp_schema"),
    ],
)
@pytest.mark.parametrize(
    "word, expected",
    [("true", True), ("TRUE", True), ("yes", True), ("Yes", True), ("1", True), ("false", False), ("No", False), ("0", False), ("", True)],
)
def test_booleans(annotation, key, word, expected):
    assert spec_with(f"@fluxbase:{annotation} {word}".rstrip()).config[key] is expected


def test_public_is_a_top_level_field():
    assert spec_with("@fluxbase:public false").is_public is False
    assert spec_with("@fluxbase:public yes").is_public is True


def test_knowledge_base_accumulates_across_lines():
    spec = spec_with("@fluxbase:knowledge-base product-docs", "@fluxbase:knowledge-base faq,product-docs", "@fluxbase:knowledge-base guides")
    assert spec.config["knowledge_bases"] == ("product-docs", "faq", "guides")


def test_temperature_out_of_range_reads_well():
    err = error_with("@fluxbase:temperature 3.5")
    assert str(err) == "chatbots/t/index.ts:5: @fluxbase:temperature: must be between 0.0 and 2.0 (got 3.5)"
    assert (err.line, err.annotation) == (5, "temperature")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("@fluxbase:persist-conversations maybe", "expected true/false"),
        ("@fluxbase:max-tokens 0", "must be between 1"),
        ("@fluxbase:max-tokens lots", "expected a positive whole number"),
        ("@fluxbase:max-tokens", "needs a value"),
        ("@fluxbase:max-tokens 1.5", "expected a positive whole number"),
        ("@fluxbase:rate-limit 20/hour", "requests per minute"),
        ("@fluxbase:daily-limit 20/min", "requests per day"),
        ("@fluxbase:rag-similarity-threshold 1.5", "must be between 0.0 and 1.0"),
        ("@fluxbase:temperature nan", "must be between"),
        ("@fluxbase:allowed-operations SELECT,DROP", "unknown operation 'DROP'"),
        ("@fluxbase:allowed-tables orders;drop", "not a table name"),
        ("@fluxbase:allowed-tables a.b.c", "not a table name"),
        ("@fluxbase:response-language Klingon", "unknown language"),
        ("@fluxbase:http-allowed-domains https://api.example.com", "bare host name"),
        ("@fluxbase:http-allowed-domains api.example.com/path", "bare host name"),
        ("@fluxbase:http-allowed-domains bad_host.com", "not a valid host name"),
        ("@fluxbase:http-allowed-domains api.example.com:99999", "port"),
        ("@fluxbase:http-allowed-domains *.com", "a wildcard needs a domain under it"),
        ("@fluxbase:http-allowed-domains *.0.0.1", "a wildcard needs a domain under it"),
        ("@fluxbase:http-allowed-domains api.*.example.com", "not a valid host name"),
        ("@fluxbase:http-allowed-domains *", "not a valid host name"),
        ("@fluxbase:mcp-tools query_table,format_disk", "unknown tool 'format_disk'"),
        ("@fluxbase:required-settings ok,not ok", "not a valid setting key"),
        ("@fluxbase:model has spaces", "without spaces"),
    ],
)
def test_bad_values_name_file_line_and_annotation(line, fragment):
    err = error_with(line)
    assert fragment in err.message
    assert err.line == 5
    assert err.annotation == line.split()[0].removeprefix("@fluxbase:")
    assert str(err).startswith(f"chatbots/t/index.ts:5: {line.split()[0]}: ")


def test_unknown_annotation_suggests_the_right_one():
    err = error_with("@fluxbase:temprature 0.5")
    assert err.annotation == "temprature"
    assert "unknown annotation" in err.message and "@fluxbase:temperature" in err.message


def test_repeated_annotation():
    err = error_with("@fluxbase:max-tokens 100", "@fluxbase:max-tokens 200")
    assert err.line == 6 and "first on line 5" in err.message


def test_missing_description():
    with pytest.raises(ChatbotDefinitionError) as info:
        parse_chatbot("/**\n * Title\n * @fluxbase:max-tokens 100\n */\nexport default `p`;", name="t", path="x.ts")
    assert info.value.annotation == "description"
    assert info.value.line == 1
    with pytest.raises(ChatbotDefinitionError, match="description"):
        parse_chatbot("export default `p`;", name="t")


def test_malformed_annotation_line():
    assert "malformed" in error_with("@fluxbase:max-tokens=100").message


def test_fallbacks_fill_in_only_what_the_file_does_not_say():
    # What a sync payload's spec keys become (spec_payload.spec_values): annotation keys, validated values.
    fallbacks = {"description": "from the spec", "is_public": False, "max_tokens": 2000, "temperature": 0.3,
                 "allowed_tables": ["orders"]}
    code = "/**\n * Title\n * @fluxbase:max-tokens 100\n */\nexport default `p`;"
    spec = parse_chatbot(code, name="t", fallbacks=fallbacks)
    assert spec.config["max_tokens"] == 100  # the file's annotation wins
    assert (spec.description, spec.is_public, spec.config["temperature"]) == ("from the spec", False, 0.3)
    assert spec.config["allowed_tables"] == ("orders",)
    assert fallbacks["allowed_tables"] == ["orders"]  # the caller's value is copied, not kept
    # A file's own description and visibility win too.
    own = parse_chatbot(file_with("@fluxbase:public true"), name="t", fallbacks=fallbacks)
    assert (own.description, own.is_public, own.config["max_tokens"]) == ("d", True, 2000)
    # Nothing carries over to a parse without them: the description is missing again, the rest is default.
    with pytest.raises(ChatbotDefinitionError, match="description"):
        parse_chatbot(code, name="t")
    assert parse_chatbot(file_with(), name="t", fallbacks={}).config == spec_with().config
    assert spec_with().config["temperature"] == DEFAULTS["temperature"]


# -- tool selection ---------------------------------------------------------------


def test_tool_selection_rule():
    everything = registry_with("http_get", "list_objects")

    def offered(*lines: str) -> list[str]:
        spec = spec_with(*lines, registry=everything)
        assert spec.warnings == ()
        return [t["name"] for t in spec.tools]

    assert offered("@fluxbase:allowed-operations") == []
    assert offered("@fluxbase:allowed-tables") == []
    assert offered("@fluxbase:http-allowed-domains a.example.com") == ["execute_sql", "http_get"]
    assert offered("@fluxbase:mcp-tools list_objects", "@fluxbase:http-allowed-domains a.example.com") == [
        "list_objects", "http_get"]
    assert offered("@fluxbase:knowledge-base faq") == ["execute_sql"]
    assert spec_with("@fluxbase:mcp-tools list_objects", registry=everything).tools[0] == everything.definition(
        "list_objects")
    err = error_with("@fluxbase:mcp-tools http_get")
    assert err.annotation == "http-allowed-domains"


def test_a_named_tool_this_server_cannot_run_is_a_warning_and_not_offered():
    without_http = registry_with()  # a server that runs execute_sql only
    mcp = spec_with("@fluxbase:mcp-tools query_table,list_objects", "@fluxbase:http-allowed-domains a.example.com",
                    registry=without_http)
    assert mcp.tools == ()
    assert mcp.warnings == (unavailable("query_table"), unavailable("list_objects"), unavailable("http_get"))
    legacy = spec_with("@fluxbase:http-allowed-domains a.example.com", registry=without_http)
    assert [t["name"] for t in legacy.tools] == ["execute_sql"] and legacy.warnings == (unavailable("http_get"),)
    # This server runs http_get: a chatbot with allowed domains is offered it, with no warning.
    here = spec_with("@fluxbase:mcp-tools search_knowledge_base", "@fluxbase:http-allowed-domains a.example.com")
    assert [t["name"] for t in here.tools] == ["http_get"] and here.warnings == (unavailable("search_knowledge_base"),)
    assert spec_with().warnings == ()
    # Still an error, runnable or not: every request would be refused.
    assert error_with("@fluxbase:mcp-tools query_table,http_get").annotation == "http-allowed-domains"


def test_select_tools_reusable_after_config_change():
    config = default_config() | {"mcp_tools": ["search_knowledge_base"]}
    assert declared_tool_names(config) == ("search_knowledge_base",)
    assert select_tools(config, None, default_registry()) == ()
    assert [t["name"] for t in select_tools(config, None, registry_with("search_knowledge_base"))] == ["search_knowledge_base"]
    assert tool_warnings(config, None, default_registry()) == (unavailable("search_knowledge_base"),)


def test_a_tool_the_server_gained_after_the_last_sync_is_reported_until_synced_again():
    config = default_config() | {"mcp_tools": ["search_knowledge_base"]}
    stored = select_tools(config, None, default_registry())  # written by a server without search_knowledge_base
    gained = registry_with("search_knowledge_base")
    [warning] = tool_warnings(config, None, gained, stored)
    assert warning.startswith("search_knowledge_base: ") and "not offered" in warning and "synced again" in warning
    assert tool_warnings(config, None, gained, select_tools(config, None, gained)) == ()
    assert tool_warnings(config, None, default_registry(), stored) == (unavailable("search_knowledge_base"),)


# -- REST config ---------------------------------------------------------------------


def test_validate_config_accepts_json_and_text_forms():
    assert validate_config(
        {
            "allowed_tables": ["Orders", "analytics.metrics"],
            "allowed_operations": "select,insert",
            "max_tokens": 1000,
            "temperature": 1,
            "rate_limit_per_minute": "30/min",
            "daily_token_budget": "250k",
            "persist_conversations": "yes",
            "allow_unauthenticated": True,
            "conversation_ttl_hours": 48.0,
            "knowledge_bases": ["faq", "docs,faq"],
            "http_allowed_domains": "API.example.com",
            "response_language": "fr",
            "model": None,
        }
    ) == {
        "allowed_tables": ["orders", "analytics.metrics"],
        "allowed_operations": ["SELECT", "INSERT"],
        "max_tokens": 1000,
        "temperature": 1.0,
        "rate_limit_per_minute": 30,
        "daily_token_budget": 250000,
        "persist_conversations": True,
        "allow_unauthenticated": True,
        "conversation_ttl_hours": 48,
        "knowledge_bases": ["faq", "docs"],
        "http_allowed_domains": ["api.example.com"],
        "response_language": "French",
        "model": None,
    }
    assert validate_config({}) == {}


@pytest.mark.parametrize(
    "partial, key, fragment",
    [
        ({"temperature": 3.5}, "temperature", "must be between 0.0 and 2.0"),
        ({"temperature": "hot"}, "temperature", "expected a number"),
        ({"max_tokens": True}, "max_tokens", "expected"),
        ({"max_tokens": 10.5}, "max_tokens", "expected"),
        ({"persist_conversations": "maybe"}, "persist_conversations", "expected true/false"),
        ({"persist_conversations": 2}, "persist_conversations", "expected true/false"),
        ({"allowed_operations": ["SELECT", 5]}, "allowed_operations", "expected text"),
        ({"max_turns": None}, "max_turns", "must not be null"),
        ({"temprature": 1}, "temprature", "did you mean 'temperature'"),
        ({"description": "x"}, "description", "unknown config key"),
    ],
)
def test_validate_config_errors(partial, key, fragment):
    with pytest.raises(ConfigError) as info:
        validate_config(partial)
    assert info.value.key == key
    assert fragment in info.value.message


# -- server policy --------------------------------------------------------------------


def test_effective_config_narrows_but_never_widens():
    config = spec_with(
        "@fluxbase:allowed-operations SELECT,INSERT,DELETE",
        "@fluxbase:max-tokens 32000",
        "@fluxbase:rate-limit 100",
        "@fluxbase:daily-limit 50",
        "@fluxbase:token-budget 1m",
        "@fluxbase:allow-unauthenticated true",
    ).config
    policy = ServerPolicy(
        allowed_operations=frozenset({"select", "insert", "update"}),
        max_rate_limit_per_minute=60,
        max_daily_request_limit=1000,
        max_daily_token_budget=500_000,
        allow_unauthenticated=False,
    )
    effective = effective_config(config, policy)
    assert effective["allowed_operations"] == ["SELECT", "INSERT"]
    assert effective["max_tokens"] == 16384
    assert effective["rate_limit_per_minute"] == 60
    assert effective["daily_request_limit"] == 50  # already below the cap
    assert effective["daily_token_budget"] == 500_000
    assert effective["allow_unauthenticated"] is False
    assert effective["allowed_tables"] == ["*"]


def test_default_policy_keeps_a_chatbot_as_it_is_apart_from_max_tokens():
    config = spec_with("@fluxbase:allow-unauthenticated yes").to_config_dict()
    assert effective_config(config, ServerPolicy()) == config
    assert effective_config({"max_tokens": 99999}, ServerPolicy())["max_tokens"] == 16384


def test_policy_refuses_unknown_operations():
    with pytest.raises(ValueError):
        ServerPolicy(allowed_operations=frozenset({"TRUNCATE"}))


def test_a_list_longer_than_any_real_one_is_refused():
    from app.chatbots.annotations import MAX_LIST_ITEMS, InvalidValue, parse_tables

    with pytest.raises(InvalidValue, match=f"at most {MAX_LIST_ITEMS}"):
        parse_tables([f"t{i}" for i in range(100_000)])
    with pytest.raises(InvalidValue, match=f"at most {MAX_LIST_ITEMS}"):
        parse_tables(",".join(f"t{i}" for i in range(MAX_LIST_ITEMS + 1)))
    tables = [f"t{i}" for i in range(MAX_LIST_ITEMS)]
    assert parse_tables(tables) == tables
    assert parse_tables(["a,b", "b", "A"]) == ["a", "b"]  # duplicates dropped, first order kept
