"""The guarded client against real local servers: TLS and SNI for the real name, addresses checked on every
hop, no second lookup, redirects bounded, size and time capped, proxies ignored.

127.0.0.2 plays a public address (`treat_as_public`); 127.0.0.1 is the internal network a model must
never reach. The connector refuses anything outside 127.0.0.0/8, so no test sends a packet elsewhere.
"""
from __future__ import annotations

import gzip
import time
import tracemalloc

import pytest

from app.net.destinations import parse_allowed
from app.net.guarded_http import MAX_BYTES, GuardedHttpClient, HttpFailed, HttpRefused
from app.net.urls import parse_url
from tests.support.http_servers import (
    INTERNAL,
    PUBLIC,
    FakeResolver,
    LocalHttpServer,
    LoopbackConnector,
    drip,
    echo,
    gzip_response,
    json_response,
    redirect,
    response,
    treat_as_public,
    twin_servers,
)
from tests.support.tls_certs import TestCA, self_signed_context

API = "api.example.test"


@pytest.fixture(autouse=True)
def internet(monkeypatch):
    treat_as_public(monkeypatch)


@pytest.fixture
def ca(tmp_path):
    return TestCA(tmp_path)


class Harness:
    def __init__(self, ca: TestCA | None, resolver: FakeResolver | None = None, **options):
        self.resolver = resolver or FakeResolver.static({API: [PUBLIC]})
        self.connector = LoopbackConnector()
        self.client = GuardedHttpClient(resolver=self.resolver, connector=self.connector,
                                        ssl_context=ca.client_context() if ca else None, **options)

    def get(self, url: str, *allowed: str, headers=()):
        return self.client.get(parse_url(url), parse_allowed(allowed), lambda checked: (checked.target, list(headers)))


def test_https_goes_to_the_checked_address_with_sni_and_the_certificate_checked_for_the_host_name(ca):
    sni = []
    with LocalHttpServer(echo, tls=ca.server_context(API, sni=sni)) as server:
        harness = Harness(ca)
        answer = harness.get(f"https://{API}:{server.port}/v1/x?q=1", f"{API}:{server.port}")
    assert answer.status == 200 and answer.media_type == "application/json" and str(answer.address) == PUBLIC
    assert b'"target": "/v1/x?q=1"' in answer.body
    assert sni == [API] and harness.connector.attempts == [(PUBLIC, server.port)]
    assert [(r.method, r.headers["host"]) for r in server.requests] == [("GET", f"{API}:{server.port}")]


def test_a_certificate_for_another_name_is_refused(ca):
    with LocalHttpServer(echo, tls=ca.server_context("other.example.test")) as server:
        with pytest.raises(HttpFailed, match=f"the TLS certificate of {API} was not accepted .*(mismatch|match)"):
            Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
    assert server.requests == []


def test_a_self_signed_certificate_is_refused(tmp_path):
    with LocalHttpServer(echo, tls=self_signed_context(tmp_path, API)) as server:
        with pytest.raises(HttpFailed, match="not accepted \\(self-signed certificate\\)"):
            Harness(None).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")  # the system trust store
    assert server.requests == []


@pytest.mark.parametrize("target,refusal", [
    ("http://127.0.0.1:{port}/admin", "127.0.0.1 is a loopback address"),
    ("https://127.0.0.1:{port}/admin", "127.0.0.1 is a loopback address"),
    ("https://2130706433:{port}/admin", "decimal, hex, octal or shortened form (it means 127.0.0.1)"),
    ("https://[::ffff:127.0.0.1]:{port}/admin", "IPv4-mapped IPv6 address (of 127.0.0.1)"),
    ("https://internal.example.test:{port}/admin", "internal.example.test resolves to 127.0.0.1, which is a loopback"),
    ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("https://evil.example.test/", "evil.example.test is not in this chatbot's allowed domains"),
    ("ftp://{api}/x", "only https URLs can be fetched"),
])
def test_a_redirect_is_followed_only_when_the_new_hop_passes_the_same_checks(ca, target, refusal):
    with LocalHttpServer(echo, host=INTERNAL, tls=ca.server_context("internal.example.test", "127.0.0.1")) as internal:
        location = target.format(port=internal.port, api=API)
        with LocalHttpServer(lambda r: redirect(location), tls=ca.server_context(API)) as server:
            resolver = FakeResolver.static({API: [PUBLIC], "internal.example.test": [INTERNAL]})
            harness = Harness(ca, resolver)
            allowed = (f"{API}:{server.port}", f"127.0.0.1:{internal.port}", f"internal.example.test:{internal.port}",
                       "169.254.169.254")
            with pytest.raises(HttpRefused, match="the server redirected to .*refused: ") as info:
                harness.get(f"https://{API}:{server.port}/start", *allowed)
    assert refusal in str(info.value)
    assert internal.requests == [] and internal.connections == 0
    assert harness.connector.attempts == [(PUBLIC, server.port)]


def test_a_host_resolving_to_a_private_address_is_refused_before_connecting(ca):
    for answers, refused in ((["10.0.0.7"], "10.0.0.7, which is a private address"),
                             ([PUBLIC, "10.0.0.7"], "10.0.0.7, which is a private address"),
                             (["127.0.0.1"], "127.0.0.1, which is a loopback address"),
                             (["169.254.169.254"], "169.254.169.254, which is a cloud metadata address")):
        harness = Harness(ca, FakeResolver.static({API: answers}))
        with pytest.raises(HttpRefused, match=f"{API} resolves to {refused}"):
            harness.get(f"https://{API}/", API)
        assert harness.connector.attempts == []


def test_rebinding_between_two_lookups_does_not_reach_the_second_address(ca):
    context = ca.server_context(API)
    public, internal = twin_servers(lambda r: json_response({"from": "public"}),
                                    lambda r: json_response({"from": "internal"}), tls=context)
    with public, internal:
        # The first lookup answers the public address, any later one the internal twin on the same port.
        resolver = FakeResolver({API: [[PUBLIC], [INTERNAL]]})
        harness = Harness(ca, resolver)
        answer = harness.get(f"https://{API}:{public.port}/", f"{API}:{public.port}")
    assert answer.body == b'{"from": "public"}' and str(answer.address) == PUBLIC
    assert resolver.calls == [API] and harness.connector.attempts == [(PUBLIC, public.port)]
    assert internal.requests == [] and internal.connections == 0


def test_a_redirect_to_the_same_host_is_looked_up_again_and_refused_when_it_rebinds(ca):
    context = ca.server_context(API)
    public, internal = twin_servers(lambda r: redirect("/next"), echo, tls=context)
    with public, internal:
        resolver = FakeResolver({API: [[PUBLIC], [INTERNAL]]})
        with pytest.raises(HttpRefused, match=f"{API} resolves to 127.0.0.1, which is a loopback address"):
            Harness(ca, resolver).get(f"https://{API}:{public.port}/", f"{API}:{public.port}")
    assert resolver.calls == [API, API] and internal.connections == 0


def test_at_most_three_redirects(ca):
    def chain(request):
        hop = int(request.target.rsplit("/", 1)[1])
        return redirect(f"/r/{hop + 1}", status=(301, 302, 307, 308)[hop % 4]) if hop < 4 else json_response({"hop": hop})

    with LocalHttpServer(chain, tls=ca.server_context(API)) as server:
        allowed = f"{API}:{server.port}"
        answer = Harness(ca).get(f"https://{API}:{server.port}/r/1", allowed)
        assert answer.redirects == 3 and answer.body == b'{"hop": 4}' and answer.url.path == "/r/4"
        with pytest.raises(HttpRefused, match="redirected more than 3 times"):
            Harness(ca).get(f"https://{API}:{server.port}/r/0", allowed)
    assert [r.target for r in server.requests][-4:] == ["/r/0", "/r/1", "/r/2", "/r/3"]


def test_headers_the_caller_added_go_to_the_same_origin_only(ca):
    with LocalHttpServer(echo, tls=ca.server_context("other.example.test")) as other:
        def route(request):
            if request.target == "/same":
                return redirect("/echo")
            if request.target == "/cross":
                return redirect(f"https://other.example.test:{other.port}/echo")
            return echo(request)

        with LocalHttpServer(route, tls=ca.server_context(API)) as server:
            resolver = FakeResolver.static({API: [PUBLIC], "other.example.test": [PUBLIC]})
            allowed = (f"{API}:{server.port}", f"other.example.test:{other.port}")
            same = Harness(ca, resolver).get(f"https://{API}:{server.port}/same", *allowed, headers=[("X-Key", "k1")])
            cross = Harness(ca, resolver).get(f"https://{API}:{server.port}/cross", *allowed, headers=[("X-Key", "k1")])
    assert b'"x-key": "k1"' in same.body
    assert b"x-key" not in cross.body and other.requests[0].headers.get("x-key") is None


def test_a_slow_drip_is_stopped_at_the_deadline(ca):
    # One byte every half second for up to 30 s; the deadline is the whole request's, not each read's.
    head = response(200, b"", content_type="text/plain", length=False)
    with LocalHttpServer(lambda r: drip(head, b"x", 0.5, 60), tls=ca.server_context(API)) as server:
        started = time.monotonic()
        with pytest.raises(HttpFailed, match="no complete answer within 10 s; the request was stopped"):
            Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
        elapsed = time.monotonic() - started
    assert 9.5 <= elapsed < 12, elapsed


def test_a_drip_in_the_headers_is_stopped_at_the_deadline_too(ca):
    head = response(200, b"{}", headers={"X-Padding": "p" * 200})
    with LocalHttpServer(lambda r: ((0.1, head[i:i + 1]) for i in range(len(head))),
                         tls=ca.server_context(API)) as server:
        started = time.monotonic()
        with pytest.raises(HttpFailed, match="within 1.5 s"):
            Harness(ca, deadline_seconds=1.5).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "read-until-close"])
def test_a_5_mb_body_is_refused_at_the_cap(ca, with_length):
    body = b'{"x": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    with LocalHttpServer(lambda r: response(200, body, length=with_length), tls=ca.server_context(API)) as server:
        with pytest.raises(HttpRefused, match=f"the answer is larger than {MAX_BYTES} bytes \\(1024 KiB\\)"):
            Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")


def test_a_body_at_the_cap_is_accepted(ca):
    body = b"a" * MAX_BYTES
    with LocalHttpServer(lambda r: response(200, body, content_type="text/plain", length=False),
                         tls=ca.server_context(API)) as server:
        assert Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}").body == body


def test_a_gzip_bomb_is_stopped_at_the_cap_without_inflating_it(ca):
    bomb = gzip_response(bytes(64 * 1024 * 1024))  # 64 MiB of zeros, about 64 KB on the wire
    assert len(bomb) < 200_000
    with LocalHttpServer(lambda r: bomb, tls=ca.server_context(API)) as server:
        harness = Harness(ca)
        tracemalloc.start()
        try:
            with pytest.raises(HttpRefused, match="larger than 1048576 bytes"):
                harness.get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, peak


def test_gzip_and_deflate_answers_are_decoded(ca):
    import zlib

    text = b'{"city": "Berlin"}' * 100
    deflated = response(200, zlib.compress(text), headers={"Content-Encoding": "deflate"})
    routes = {"/gzip": gzip_response(text, "application/json"), "/deflate": deflated}
    with LocalHttpServer(lambda r: routes[r.target], tls=ca.server_context(API)) as server:
        for path in routes:
            assert Harness(ca).get(f"https://{API}:{server.port}{path}", f"{API}:{server.port}").body == text
    assert gzip.decompress(routes["/gzip"].split(b"\r\n\r\n", 1)[1]) == text


@pytest.mark.parametrize("content_type,refused", [
    ("image/png", "answered 200 with image/png; only JSON and text answers are accepted"),
    ("application/octet-stream", "with application/octet-stream; only JSON and text"),
    (None, "with no Content-Type; only JSON and text"),
])
def test_only_json_and_text_answers(ca, content_type, refused):
    with LocalHttpServer(lambda r: response(200, b"\x89PNG", content_type=content_type),
                         tls=ca.server_context(API)) as server:
        with pytest.raises(HttpRefused, match=refused.replace("(", "\\(").replace(")", "\\)")):
            Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")


def test_accepted_types_and_an_error_status_come_back_as_answers(ca):
    routes = {"/geo": response(200, b"{}", content_type="application/geo+json; charset=utf-8"),
              "/html": response(200, b"<p>hi</p>", content_type="text/html; charset=ISO-8859-1"),
              "/missing": response(404, b'{"error": "no such city"}')}
    with LocalHttpServer(lambda r: routes[r.target], tls=ca.server_context(API)) as server:
        answers = {path: Harness(ca).get(f"https://{API}:{server.port}{path}", f"{API}:{server.port}")
                   for path in routes}
    assert answers["/geo"].media_type == "application/geo+json" and answers["/geo"].charset == "utf-8"
    assert answers["/html"].charset == "iso-8859-1"
    assert answers["/missing"].status == 404 and answers["/missing"].body == b'{"error": "no such city"}'


def test_proxies_from_the_environment_are_ignored(ca, monkeypatch):
    with LocalHttpServer(echo, host=INTERNAL) as proxy, LocalHttpServer(echo, tls=ca.server_context(API)) as server:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        answer = Harness(ca).get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
    assert answer.status == 200 and len(server.requests) == 1
    assert proxy.connections == 0


def test_loopback_in_development_only_by_a_loopback_name_and_only_to_loopback_addresses():
    with LocalHttpServer(echo, host=INTERNAL) as server:
        dev = Harness(None, FakeResolver.static({"localhost": [INTERNAL]}), allow_loopback=True)
        assert dev.get(f"http://localhost:{server.port}/", f"localhost:{server.port}").status == 200
        assert dev.get(f"http://127.0.0.1:{server.port}/", f"127.0.0.1:{server.port}").status == 200
        # Any other name that resolves to loopback is refused, in development too.
        sneaky = Harness(None, FakeResolver.static({API: [INTERNAL]}), allow_loopback=True)
        with pytest.raises(HttpRefused, match="127.0.0.1, which is a loopback address"):
            sneaky.get(f"https://{API}:{server.port}/", f"{API}:{server.port}")
        production = Harness(None, FakeResolver.static({"localhost": [INTERNAL]}))
        with pytest.raises(HttpRefused, match="127.0.0.1 is a loopback address"):
            production.get(f"http://127.0.0.1:{server.port}/", f"127.0.0.1:{server.port}")
    assert len(server.requests) == 2


def test_an_answer_without_a_body_is_an_answer_and_a_broken_encoding_is_refused(ca):
    import zlib

    whole = gzip.compress(b'{"ok": true}' * 50)
    routes = {"/empty": response(204, b"", content_type=None),
              "/cut": response(200, whole[: len(whole) // 2], headers={"Content-Encoding": "gzip"}),
              "/two-members": response(200, gzip.compress(b"a") + gzip.compress(b"b"), content_type="text/plain",
                                       headers={"Content-Encoding": "gzip"}),
              "/twice": response(200, zlib.compress(b"{}"), headers={"Content-Encoding": "identity",
                                                                     "content-encoding": "deflate"})}
    with LocalHttpServer(lambda r: routes[r.target], tls=ca.server_context(API)) as server:
        allowed = f"{API}:{server.port}"
        empty = Harness(ca).get(f"https://{API}:{server.port}/empty", allowed)
        assert (empty.status, empty.body) == (204, b"")
        with pytest.raises(HttpFailed, match="cut off before its end"):
            Harness(ca).get(f"https://{API}:{server.port}/cut", allowed)
        with pytest.raises(HttpFailed, match="several gzip members"):
            Harness(ca).get(f"https://{API}:{server.port}/two-members", allowed)
        with pytest.raises(HttpRefused, match="Content-Encoding more than once"):
            Harness(ca).get(f"https://{API}:{server.port}/twice", allowed)


@pytest.mark.parametrize("address,why", [
    ("::ffff:0:7f00:1", "an IPv4-translated IPv6 address (of 127.0.0.1)"),
    ("4000::1", "not in the allocated public (2000::/3) range"),
    ("e000::1", "not in the allocated public (2000::/3) range"),
])
def test_special_ipv6_ranges_python_calls_global_are_refused(address, why):
    import ipaddress

    from app.net.addresses import refusal

    assert refusal(ipaddress.ip_address(address)) == why
