"""One strict URL parser for model-written URLs and redirect targets.

Parse once, send exactly what was checked: the result's scheme, host and port are what the
destination rules check, what the connection is made to, and what goes in the Host header and
TLS SNI; the path and query are re-encoded here, once, into the request target. Nothing is
parsed a second time by another library.

Refused rather than "fixed", because parsers disagree about them (the gap SSRF bypasses live in):
control characters, white space (tabs, CR, LF), backslashes, user info (`user@host`), percent-encoded
or non-ASCII host names (IDN look-alikes: write the xn-- form), a trailing dot, IPv4 hosts in
any form but a.b.c.d, IPv6 zone ids, empty ports. The fragment is dropped (it is never sent).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote

from app.net.addresses import (
    IPAddress,
    NonCanonicalIPv4,
    looks_like_ipv4,
    parse_ipv4_host,
)
from app.net.errors import UrlRefused

__all__ = ["MAX_TARGET_LENGTH", "MAX_URL_LENGTH", "PLACEHOLDER", "ParsedUrl", "encode_component", "parse_url",
           "resolve_location"]

MAX_URL_LENGTH = 4096
MAX_TARGET_LENGTH = 8192
DEFAULT_PORTS = {"https": 443, "http": 80}

# A secret setting's stand-in (issue 10): `{{secret:KEY}}`, KEY as setting keys are written.
PLACEHOLDER = re.compile(r"\{\{secret:([A-Za-z0-9._-]+)\}\}")

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# RFC 3986 pchar (unreserved, sub-delims, ':' and '@') plus '/'; '%' only as the start of %XX.
_PATH_SAFE = "-._~!$&'()*+,;=:@/"
_QUERY_SAFE = _PATH_SAFE + "?"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str                 # 'https' or 'http'
    host: str                   # lower-case ASCII name, dotted IPv4, or compressed IPv6 (no brackets)
    port: int
    path: str                   # percent-encoded, starts with '/'
    query: str | None           # percent-encoded; `{{secret:KEY}}` kept as written when asked for
    address: IPAddress | None   # set when the host is an IP literal

    @property
    def default_port(self) -> bool:
        return self.port == DEFAULT_PORTS[self.scheme]

    @property
    def netloc(self) -> str:
        """host[:port] as a URL and the Host header spell it (the port only when it is not the default)."""
        host = f"[{self.host}]" if self.address is not None and self.address.version == 6 else self.host
        return host if self.default_port else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def target(self) -> str:
        return self.path + ("" if self.query is None else "?" + self.query)

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"


def parse_url(text: object, *, placeholders: bool = False) -> ParsedUrl:
    """Parse an absolute http(s) URL or raise UrlRefused saying what is wrong with it.

    With `placeholders`, `{{secret:KEY}}` is kept as written in the query (the caller substitutes
    it after the host was checked) and refused everywhere else.
    """
    if not isinstance(text, str) or not text:
        raise UrlRefused("the URL must be a non-empty string")
    if len(text) > MAX_URL_LENGTH:
        raise UrlRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    _check_characters(text)
    match = _SCHEME.match(text)
    if not match:
        raise UrlRefused("the URL must be absolute, starting with https://")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlRefused(f"only https URLs can be fetched (not {scheme}:)")
    rest = text[match.end():]
    if not rest.startswith("//"):
        raise UrlRefused(f"the URL must start with {scheme}:// (a host is required)")
    rest = rest[2:]
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    rest = rest.split("#", 1)[0]
    raw_path, _, raw_query = rest.partition("?")
    has_query = "?" in rest
    if placeholders and (PLACEHOLDER.search(authority) or PLACEHOLDER.search(raw_path)):
        raise UrlRefused("secret placeholders may appear only in the query, params and header values")
    host, port, address = _authority(authority, scheme)
    path = encode_component(raw_path or "/", _PATH_SAFE)
    if not path.startswith("/"):  # cannot happen after the authority split; kept as a guard for the target
        raise UrlRefused("the URL path must start with '/'")
    query = _encode_query(raw_query, keep_placeholders=placeholders) if has_query else None
    url = ParsedUrl(scheme=scheme, host=host, port=port, path=path, query=query, address=address)
    if len(url.target) > MAX_TARGET_LENGTH:
        raise UrlRefused(f"the URL's path and query are longer than {MAX_TARGET_LENGTH} characters once encoded")
    return url


def resolve_location(base: ParsedUrl, location: str) -> ParsedUrl:
    """A redirect's Location against the URL that answered it, through the same strict parser."""
    _check_characters(location)
    if _SCHEME.match(location):
        absolute = location
    elif location.startswith("//"):
        absolute = f"{base.scheme}:{location}"
    elif location.startswith("/"):
        absolute = f"{base.scheme}://{base.netloc}{location}"
    elif location.startswith("?"):
        absolute = f"{base.scheme}://{base.netloc}{base.path}{location}"
    elif location.startswith("#") or not location:
        absolute = str(base)
    else:
        directory = base.path.rsplit("/", 1)[0]
        absolute = f"{base.scheme}://{base.netloc}{directory}/{location}"
    return parse_url(absolute)


def encode_component(text: str, safe: str) -> str:
    """Percent-encode what `safe` does not allow, leaving well-formed %XX escapes as they are."""
    out = []
    position = 0
    for match in _PERCENT.finditer(text):
        out.append(quote(text[position:match.start()], safe=safe))
        out.append(match.group(0).upper())
        position = match.end()
    out.append(quote(text[position:], safe=safe))
    return "".join(out)


def _encode_query(query: str, *, keep_placeholders: bool) -> str:
    if not keep_placeholders:
        return encode_component(query, _QUERY_SAFE)
    out, position = [], 0
    for match in PLACEHOLDER.finditer(query):
        out.append(encode_component(query[position:match.start()], _QUERY_SAFE))
        out.append(match.group(0))
        position = match.end()
    out.append(encode_component(query[position:], _QUERY_SAFE))
    return "".join(out)


def _check_characters(text: str) -> None:
    for index, char in enumerate(text):
        if char == "\\":
            raise UrlRefused(f"backslashes are not allowed in URLs (position {index}); parsers disagree about them")
        if ord(char) < 0x21 or char == "\x7f" or char.isspace() or (0x80 <= ord(char) < 0xA0):
            raise UrlRefused(f"the URL contains white space or a control character ({char!r} at position {index})")


def _authority(authority: str, scheme: str) -> tuple[str, int, IPAddress | None]:
    if "@" in authority:
        raise UrlRefused("URLs with credentials (user@host) are not allowed")
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            raise UrlRefused("an IPv6 address in a URL must end with ']'")
        host_text, port_text = authority[1:close], authority[close + 1:]
        if port_text and not port_text.startswith(":"):
            raise UrlRefused("unexpected characters after the IPv6 address")
        host, address = _ipv6(host_text)
        return host, _port(port_text[1:]) if port_text else DEFAULT_PORTS[scheme], address
    host_text, colon, port_text = authority.partition(":")
    if ":" in port_text:
        raise UrlRefused("an IPv6 address in a URL must be written in brackets, like https://[2001:db8::1]/")
    host, address = _host(host_text)
    return host, _port(port_text) if colon else DEFAULT_PORTS[scheme], address


def _port(text: str) -> int:
    if not text:
        raise UrlRefused("the URL has ':' but no port number after the host")
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise UrlRefused(f"{text!r} is not a valid port (1-65535)")
    return int(text)


def _ipv6(text: str) -> tuple[str, IPAddress]:
    if "%" in text:
        raise UrlRefused("IPv6 zone ids (the %... part) are not allowed in URLs")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise UrlRefused(f"[{text}] is not a valid IPv6 address") from None
    return address.compressed, address


def _host(text: str) -> tuple[str, IPAddress | None]:
    if not text:
        raise UrlRefused("the URL has no host")
    if "%" in text:
        raise UrlRefused("percent-encoded host names are not allowed")
    if not text.isascii():
        raise UrlRefused(f"host names must be ASCII ({text!r}); write an internationalised name in its xn-- form")
    host = text.lower()
    if host.endswith("."):
        raise UrlRefused(f"host names ending in a dot are not allowed ({text!r}); write it without the dot")
    if looks_like_ipv4(host):
        try:
            address = parse_ipv4_host(host)
        except NonCanonicalIPv4 as exc:
            raise UrlRefused(str(exc)) from None
        return str(address), address
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UrlRefused(f"{text!r} is not a valid host name (letters, digits and '-' in dot-separated labels)")
    return host, None
