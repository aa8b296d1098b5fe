"""The MCP process's access log never holds a credential passed in the URL."""
import logging

import pytest

from app.mcp_server.access_log import RedactQuerySecrets, log_config, redact


@pytest.mark.parametrize("target, expected", [
    ("/mcp?chatbot=a&token=eyJ.x.y", "/mcp?chatbot=a&token=[redacted]"),
    ("/mcp?apikey=k1&chatbot=a&ACCESS_TOKEN=k2#f", "/mcp?apikey=[redacted]&chatbot=a&ACCESS_TOKEN=[redacted]#f"),
    ("/mcp?chatbot=token&tokens=1", "/mcp?chatbot=token&tokens=1"),
    ("/health", "/health"),
])
def test_credentials_in_the_query_are_redacted_and_nothing_else(target, expected):
    assert redact(target) == expected


def test_the_filter_rewrites_uvicorns_request_line_on_the_access_handler():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:1", "POST", "/mcp?token=secret", "1.1", 400), None)
    assert RedactQuerySecrets().filter(record) and "secret" not in record.getMessage()
    assert log_config()["handlers"]["access"]["filters"] == ["redact_query_secrets"]
