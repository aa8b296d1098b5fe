"""A GET client for URLs a model chose: every hop checked, connections pinned, size and time capped.

Why a small transport of our own over httpcore2 rather than `requests-hardened`: both block
private ranges and pin the checked address (FACTS.md), but requests-hardened has neither a body
cap nor an overall deadline, resolves inside its adapter (a test cannot hand it a resolver
without patching `socket`), and would add requests and urllib3; httpcore2 is already installed
(the openai SDK's transport), takes components rather than re-parsing a URL string, reads no proxy
settings from the environment, and lets the network backend (app.net.transport) decide where a
socket goes and how long each read may wait. Decoding is ours too, so the 1 MiB cap counts
decoded bytes as they are inflated (a gzip bomb stops at the cap, never fully in memory).

Per hop: strict parse (app.net.urls) -> allow-list and scheme (app.net.destinations) -> one
lookup through the injectable resolver -> every address checked (app.net.addresses) -> connect
to a checked address -> TLS with the URL's host name. A redirect is a new hop through the same
checks, at most `max_redirects`; headers the caller added go only to the same origin.
"""
from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import socket
import ssl
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import httpcore2
from gevent import Timeout, monkey

from app.net.addresses import IPAddress, refusal
from app.net.destinations import AllowedHost, check_destination, is_loopback_host
from app.net.errors import HttpFailed, HttpRefused, UrlRefused
from app.net.transport import (
    Connector,
    Deadline,
    DeadlineExceeded,
    PinnedBackend,
    connect,
)
from app.net.urls import ParsedUrl, resolve_location

__all__ = ["DEADLINE_SECONDS", "MAX_BYTES", "MAX_REDIRECTS", "GuardedHttpClient", "HttpFailed", "HttpRefused",
           "HttpResponse", "Resolver", "system_resolver"]

MAX_BYTES = 1 << 20          # 1 MiB of decoded body (Fluxbase's documented limit)
DEADLINE_SECONDS = 10.0      # the whole request: lookups, connects, TLS, redirects, the last byte
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_USER_AGENT = "fluxbase-ai-http-get/1"

# host, port -> the addresses it resolves to, as text. Tests pass one that answers what they need.
Resolver = Callable[[str, int], Sequence[str]]

# (url, first hop) -> the request target and the extra headers to send to it; called only after
# the hop passed every check, so a caller can put secrets in them at that moment and no earlier.
Prepare = Callable[[ParsedUrl], tuple[str, list[tuple[str, str]]]]


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(info[4][0] for info in infos))


@lru_cache(maxsize=1)
def _system_tls() -> ssl.SSLContext:
    # The system's trust store; certificate and host name checked (create_default_context's defaults).
    return ssl.create_default_context()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    url: ParsedUrl              # the URL that answered (after redirects)
    media_type: str             # e.g. 'application/json'
    charset: str | None
    body: bytes                 # decoded (gunzipped), at most max_bytes
    redirects: int
    address: IPAddress          # where the answering connection went


class GuardedHttpClient:
    def __init__(self, *, allow_loopback: bool = False, resolver: Resolver = system_resolver,
                 connector: Connector = connect, ssl_context: ssl.SSLContext | None = None,
                 max_bytes: int = MAX_BYTES, deadline_seconds: float = DEADLINE_SECONDS,
                 max_redirects: int = MAX_REDIRECTS):
        self.allow_loopback = allow_loopback
        self._resolver, self._connector = resolver, connector
        self._ssl_context = ssl_context
        self.max_bytes, self.deadline_seconds, self.max_redirects = max_bytes, deadline_seconds, max_redirects

    def get(self, url: ParsedUrl, allowed: tuple[AllowedHost, ...], prepare: Prepare) -> HttpResponse:
        """GET `url`; HttpRefused when a rule forbids it (or a redirect), HttpFailed when it found no answer."""
        return self.request("GET", url, allowed, prepare)

    def request(self, method: str, url: ParsedUrl, allowed: tuple[AllowedHost, ...], prepare: Prepare,
                body: bytes | None = None) -> HttpResponse:
        """`method` to `url` with `body`, under the same checks as `get`. Only a GET follows redirects: a
        redirected POST would have to be resent or turned into a GET, and neither is what was asked."""
        deadline = Deadline(self.deadline_seconds)
        try:
            with _hard_timeout(self.deadline_seconds):
                return self._follow(url, allowed, prepare, deadline, method, body)
        except DeadlineExceeded:
            raise HttpFailed(f"no complete answer within {self.deadline_seconds:g} s; the request was stopped") from None

    def _follow(self, url: ParsedUrl, allowed: tuple[AllowedHost, ...], prepare: Prepare,
                deadline: Deadline, method: str = "GET", body: bytes | None = None) -> HttpResponse:
        first = url
        target, headers = "", []
        for hop in range(self.max_redirects + 1):
            try:
                check_destination(url, allowed, allow_loopback=self.allow_loopback)
                addresses = self._addresses(url, deadline)
            except HttpRefused as exc:
                if hop == 0:
                    raise
                # The origin only: a redirect keeps the query, and a cut-off secret would slip past scrubbing.
                raise HttpRefused(f"the server redirected to {_origin_text(url)}, which is refused: {exc.reason}") \
                    from None
            if hop == 0:
                target, headers = prepare(url)
            else:
                target = url.target
                headers = headers if url.origin == first.origin else []
            answer = self._send(url, addresses, target, headers, deadline, method if hop == 0 else "GET",
                                body if hop == 0 else None)
            if isinstance(answer, HttpResponse):
                return dataclasses.replace(answer, redirects=hop)
            if method != "GET":
                raise HttpRefused(f"the server answered the {method} with a redirect; redirects are only followed "
                                  "for GET")
            if hop == self.max_redirects:
                raise HttpRefused(f"the server redirected more than {self.max_redirects} times; not followed")
            try:
                url = resolve_location(url, answer)
            except UrlRefused as exc:
                raise HttpRefused(f"the server redirected to a Location that is refused: {exc.reason}") from None
        raise AssertionError("unreachable")

    def _addresses(self, url: ParsedUrl, deadline: Deadline) -> list[IPAddress]:
        """One lookup, every answer checked: a host with any internal address is refused outright."""
        if url.address is not None:
            return [url.address]
        deadline.remaining()
        try:
            answers = list(self._resolver(url.host, url.port))
        except (OSError, UnicodeError) as exc:
            raise HttpFailed(f"{url.host} could not be resolved ({getattr(exc, 'strerror', None) or exc})") from None
        if not answers:
            raise HttpFailed(f"{url.host} has no address")
        loopback_ok = self.allow_loopback and is_loopback_host(url)
        addresses = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError:
                raise HttpRefused(f"{url.host} resolved to {answer!r}, which is not an IP address") from None
            why = refusal(address, allow_loopback=loopback_ok)
            if why:
                raise HttpRefused(f"{url.host} resolves to {address}, which is {why}; requests to internal "
                                  "addresses are refused")
            addresses.append(address)
        return addresses

    def _send(self, url: ParsedUrl, addresses: list[IPAddress], target: str, headers: list[tuple[str, str]],
              deadline: Deadline, method: str = "GET", body: bytes | None = None) -> HttpResponse | str:
        """The answer, or the Location of a redirect (nothing of its body is read)."""
        backend = PinnedBackend(url.host, addresses, deadline, self._connector)
        request_headers = [("Host", url.netloc), ("User-Agent", _USER_AGENT),
                           ("Accept", "application/json, text/*;q=0.9"), ("Accept-Encoding", "gzip, deflate")]
        names = {name.lower() for name, _ in headers}
        request_headers = [(n, v) for n, v in request_headers if n.lower() not in names or n == "Host"] + headers
        if body is not None:
            request_headers.append(("Content-Length", str(len(body))))
        left = deadline.remaining()
        request = httpcore2.Request(
            method, httpcore2.URL(scheme=url.scheme, host=url.host, port=url.port, target=target),
            headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in request_headers],
            content=body, extensions={"timeout": {"connect": left, "read": left, "write": left, "pool": left}})
        pool = httpcore2.ConnectionPool(ssl_context=self._ssl_context or _system_tls(), max_connections=1,
                                        retries=0, http1=True, http2=False, network_backend=backend)
        try:
            response = pool.handle_request(request)
            try:
                return self._answer(url, response, backend, deadline)
            finally:
                response.close()
        except (HttpFailed, HttpRefused, DeadlineExceeded):
            raise
        except httpcore2.TimeoutException:
            raise HttpFailed(f"{url.host} did not answer in time") from None
        except httpcore2.ProtocolError as exc:
            # Its text quotes the offending header or line, which may hold a secret's value.
            raise HttpFailed(f"the request to {url.host} failed ({type(exc).__name__})") from None
        except (httpcore2.NetworkError, OSError) as exc:
            raise HttpFailed(f"the request to {url.host} failed ({type(exc).__name__}: {exc})") from None
        finally:
            pool.close()

    def _answer(self, url: ParsedUrl, response: httpcore2.Response, backend: PinnedBackend,
                deadline: Deadline) -> HttpResponse | str:
        header = _Headers(response.headers)
        if response.status in _REDIRECTS and header.get("location") is not None:
            return header.get("location")
        if response.status in (204, 304):  # no body by definition, so no Content-Type to check
            assert backend.connected_to is not None
            return HttpResponse(status=response.status, url=url, media_type=header.get("content-type") or "",
                                charset=None, body=b"", redirects=0, address=backend.connected_to)
        if header.count("content-encoding") > 1:
            raise HttpRefused("the answer names its Content-Encoding more than once; not decoded")
        media_type, charset = _content_type(header.get("content-type"))
        if not _is_text(media_type):
            shown = media_type or "no Content-Type"
            raise HttpRefused(f"the server answered {response.status} with {shown}; only JSON and text answers are "
                              "accepted")
        encoding = (header.get("content-encoding") or "identity").strip().lower()
        length = header.get("content-length")
        if encoding == "identity" and length and length.isdigit() and int(length) > self.max_bytes:
            raise HttpRefused(self._too_large())
        decoder = _Decoder(encoding, self.max_bytes)
        body = bytearray()
        for chunk in response.iter_stream():
            deadline.remaining()
            body += decoder.feed(chunk)
            if decoder.over:
                raise HttpRefused(self._too_large())
        body += decoder.finish()
        if decoder.over:
            raise HttpRefused(self._too_large())
        assert backend.connected_to is not None
        return HttpResponse(status=response.status, url=url, media_type=media_type, charset=charset,
                            body=bytes(body), redirects=0, address=backend.connected_to)

    def _too_large(self) -> str:
        return (f"the answer is larger than {self.max_bytes} bytes ({self.max_bytes // 1024} KiB) once decoded; "
                "ask for less (fewer fields, a smaller page)")


class _Headers:
    def __init__(self, raw: list[tuple[bytes, bytes]]):
        self._values: dict[str, list[str]] = {}
        for name, value in raw:
            self._values.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def count(self, name: str) -> int:
        return len(self._values.get(name, ()))


def _origin_text(url: ParsedUrl) -> str:
    return f"{url.scheme}://{url.netloc}"


def _content_type(value: str | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    media_type, *params = (part.strip() for part in value.split(";"))
    charset = None
    for param in params:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            charset = val.strip().strip('"').lower() or None
    return media_type.lower(), charset


def _is_text(media_type: str) -> bool:
    kind, _, subtype = media_type.partition("/")
    return kind == "text" or (kind == "application" and (subtype == "json" or subtype.endswith("+json")))


class _Decoder:
    """Content-Encoding undone incrementally, never producing more than `cap + 1` bytes in total."""

    def __init__(self, encoding: str, cap: int):
        if encoding in ("identity", ""):
            self._inflate = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            # 32 + MAX_WBITS accepts a gzip or a zlib header: servers send either under both names.
            self._inflate = zlib.decompressobj(32 + zlib.MAX_WBITS)
        else:
            raise HttpRefused(f"the answer is encoded as {encoding!r}; only gzip and deflate are accepted")
        self._cap, self._total, self.over = cap, 0, False

    def feed(self, chunk: bytes) -> bytes:
        if self._inflate is None:
            out = chunk
        else:
            try:
                out = self._inflate.decompress(chunk, self._cap + 1 - self._total)
            except zlib.error as exc:
                raise HttpFailed(f"the compressed answer could not be decoded ({exc})") from None
            if self._inflate.unconsumed_tail:  # more would come out than the cap allows
                self.over = True
        return self._count(out)

    def finish(self) -> bytes:
        if self._inflate is None or self.over:
            return b""
        try:
            out = self._count(self._inflate.flush())
        except zlib.error as exc:
            raise HttpFailed(f"the compressed answer could not be decoded ({exc})") from None
        if not self._inflate.eof:
            raise HttpFailed("the compressed answer was cut off before its end")
        if self._inflate.unused_data:
            raise HttpFailed("the compressed answer has data after its end (several gzip members); not decoded")
        return out

    def _count(self, out: bytes) -> bytes:
        self._total += len(out)
        if self._total > self._cap:
            self.over = True
        return out


@contextlib.contextmanager
def _hard_timeout(seconds: float):
    """Under gevent, a timer that also covers what socket timeouts cannot bound: the DNS lookup."""
    if not monkey.is_module_patched("socket"):
        yield
        return
    # A little after the soft deadline, which names the cause better when it fires first.
    with Timeout(seconds + 1.0, DeadlineExceeded):
        yield
