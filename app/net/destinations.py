"""Which hosts a chatbot's `http_get` may reach: its allow-list, the scheme rule, and literal addresses.

Matching (the entries are `@fluxbase:http-allowed-domains`, already lower-cased by the chatbot loader):

- `api.example.com` matches exactly that host, case-insensitively; not `www.api.example.com`,
  not `api.example.com.evil.net`.
- `*.example.com` matches every subdomain of example.com **and example.com itself**, as Fluxbase's
  reference implementation does (internal/ai/http_tool.go `isDomainAllowed`).
- An entry without a port allows only the scheme's default port (443, or 80 for http);
  `host:8443` allows that port only. Fluxbase ignores ports; here another port of an allowed host
  is another service, and not one the chatbot author named.
- IP literals match only an entry that spells the same address; a wildcard never matches one.

Plain http is accepted only for loopback hosts (`localhost`, 127.0.0.0/8, `[::1]`) on a server
running in development; everywhere else the URL must be https.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.net.addresses import is_loopback, refusal
from app.net.errors import UrlRefused
from app.net.urls import ParsedUrl

__all__ = ["AllowedHost", "check_destination", "is_loopback_host", "parse_allowed"]


@dataclass(frozen=True)
class AllowedHost:
    name: str            # without the '*.' of a wildcard
    wildcard: bool
    port: int | None     # None: the scheme's default port

    def matches(self, url: ParsedUrl) -> bool:
        if (url.port != self.port) if self.port is not None else not url.default_port:
            return False
        if url.host == self.name:
            return True
        return self.wildcard and url.address is None and url.host.endswith("." + self.name)

    def __str__(self) -> str:
        return ("*." if self.wildcard else "") + self.name + (f":{self.port}" if self.port is not None else "")


def parse_allowed(entries: Iterable[str]) -> tuple[AllowedHost, ...]:
    """The chatbot's entries as matchers; anything malformed is skipped (the loader has refused it already)."""
    allowed = []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        text = entry.strip().lower()
        wildcard = text.startswith("*.")
        name, _, port = text[2 if wildcard else 0:].partition(":")
        if not name or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            continue
        allowed.append(AllowedHost(name=name, wildcard=wildcard, port=int(port) if port else None))
    return tuple(allowed)


def is_loopback_host(url: ParsedUrl) -> bool:
    return url.host == "localhost" or (url.address is not None and is_loopback(url.address))


def check_destination(url: ParsedUrl, allowed: tuple[AllowedHost, ...], *, allow_loopback: bool) -> None:
    """Raise UrlRefused unless `url` may be fetched by a chatbot allowed `allowed` (before any lookup)."""
    loopback_ok = allow_loopback and is_loopback_host(url)
    if url.address is not None:
        why = refusal(url.address, allow_loopback=loopback_ok)
        if why:
            raise UrlRefused(f"{url.address} is {why}; requests to internal addresses are refused")
    if not allowed:
        raise UrlRefused("no domain is allowed for this chatbot (@fluxbase:http-allowed-domains is empty)")
    if not any(entry.matches(url) for entry in allowed):
        listed = ", ".join(str(entry) for entry in allowed)
        port = "" if url.default_port else f" on port {url.port}"
        raise UrlRefused(f"{url.host}{port} is not in this chatbot's allowed domains ({listed})")
    if url.scheme != "https" and not loopback_ok:
        raise UrlRefused("plain http is refused: use https (http is only accepted for localhost in development)")
