"""The URL corpus (url_corpus.json) through the http_get tool: each allowed URL reaches the connection
step at the expected address after one lookup, each refused one fails with the expected clear error,
and no refused URL gets as far as a connection attempt or a secret lookup."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.net.guarded_http import GuardedHttpClient
from app.tools.base import ToolError
from app.tools.http_get import make_http_get
from tests.support.http_servers import FakeResolver
from tests.support.tools import make_context

CORPUS = json.loads((Path(__file__).parent / "url_corpus.json").read_text())


class WouldConnect(Exception):
    """Raised by the connector instead of connecting: the URL passed every check."""


@dataclass
class Outcome:
    error: str | None = None
    attempts: list[str] = field(default_factory=list)
    secrets_asked: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)


def fetch(url: str, *, development: bool = False, allowed=None) -> Outcome:
    outcome = Outcome()

    def connector(address, port, timeout):
        outcome.attempts.append(f"{address}:{port}")
        raise WouldConnect()

    resolver = FakeResolver.static(CORPUS["resolver"])
    client = GuardedHttpClient(allow_loopback=development, resolver=resolver, connector=connector)
    ctx = make_context(lambda event: None, None,
                       config={"http_allowed_domains": CORPUS["allowed_domains"] if allowed is None else allowed},
                       secrets=lambda key: outcome.secrets_asked.append(key) or "s3cr3t")
    try:
        make_http_get(lambda ctx: client).run(ctx, {"url": url})
    except ToolError as exc:
        outcome.error = str(exc)
    except WouldConnect:
        pass
    outcome.lookups = list(resolver.calls)
    return outcome


def test_the_corpus_is_big_enough_and_covers_both_outcomes():
    cases = CORPUS["cases"]
    assert len(cases) >= 40
    assert sum("connects" in c for c in cases) >= 10 and sum("refused" in c for c in cases) >= 40


@pytest.mark.parametrize("case", CORPUS["cases"], ids=[c["url"][:60] for c in CORPUS["cases"]])
def test_corpus_url(case):
    outcome = fetch(case["url"], development=case.get("mode") == "development")
    if "connects" in case:
        assert outcome.error is None, outcome.error
        # The connection goes to the address that was checked: the first answer of a single lookup.
        assert outcome.attempts == [case["connects"]]
        assert len(outcome.lookups) <= 1
        return
    expected = case.get("refused") or case["failed"]
    assert outcome.error is not None and expected in outcome.error, f"{case['url']!r}: {outcome.error}"
    # Refused before any connection, and before any secret was asked for.
    assert outcome.attempts == [] and outcome.secrets_asked == []


def test_a_placeholder_is_resolved_only_once_the_host_is_checked():
    allowed = fetch("https://api.example.com/w?appid={{secret:weather.key}}")
    assert allowed.secrets_asked == ["weather.key"] and allowed.attempts == ["93.184.216.34:443"]
    refused = fetch("https://internal.example.com/w?appid={{secret:weather.key}}")
    assert "private address" in refused.error and refused.secrets_asked == [] and refused.attempts == []
