"""Which IP addresses a model-driven request may connect to, and which IPv4 spellings are refused.

Every address is checked against an explicit table rather than `ipaddress`'s `is_global` alone:
Python calls NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses global, yet both can reach an IPv4
address inside the network (64:ff9b::7f00:1 is 127.0.0.1 through a NAT64 gateway). `is_global` is
still checked last, for whatever the table does not name.

IPv4 hosts are accepted only in the dotted-quad form. The forms other parsers accept (2130706433,
0x7f000001, 0177.0.0.1, 127.1) are refused outright, even when they mean a public address: a check
and a connection that read one string two ways is how address checks get bypassed.
"""
from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["IPAddress", "NonCanonicalIPv4", "is_loopback", "looks_like_ipv4", "parse_ipv4_host", "refusal"]

IPAddress = IPv4Address | IPv6Address

# Cloud instance metadata services: the classic SSRF prize (credentials for the machine's role).
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2",     # AWS ECS task metadata
    "100.100.100.200",   # Alibaba Cloud
    "192.0.0.192",       # Oracle Cloud Classic
    "fd00:ec2::254",     # AWS over IPv6
))

# Most specific first: the first match names the reason.
_BLOCKED: tuple[tuple[IPv4Network | IPv6Network, str], ...] = tuple((ipaddress.ip_network(net), why) for net, why in (
    ("0.0.0.0/8", "an unspecified ('this network') address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared (CGNAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "a reserved (IETF protocol) address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a 6to4 relay address"),
    ("192.168.0.0/16", "a private address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
    ("::ffff:0:0:0/96", "an IPv4-translated IPv6 address"),
    ("::/96", "an IPv4-compatible IPv6 address"),
    ("64:ff9b::/96", "a NAT64 address"),
    ("64:ff9b:1::/48", "a NAT64 (local use) address"),
    ("100::/64", "a discard-only address"),
    ("2001::/32", "a Teredo address"),
    ("2001:db8::/32", "a documentation address"),
    ("2001::/23", "a reserved (IETF protocol) address"),
    ("2002::/16", "a 6to4 address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a reserved (segment routing) address"),
    ("fc00::/7", "a private (unique local) address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
))

_HEX, _OCTAL, _DECIMAL = re.compile(r"[0-9a-fA-F]*"), re.compile(r"0[0-7]+"), re.compile(r"[0-9]+")

_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback(address: IPAddress) -> bool:
    """127.0.0.0/8 or ::1 itself; an IPv4-mapped or NAT64 spelling of them is not."""
    return any(address.version == net.version and address in net for net in _LOOPBACK)


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a connection to `address` is refused ('a loopback address'); None when it may be connected to."""
    if allow_loopback and is_loopback(address):
        return None
    if address in _METADATA:
        return "a cloud metadata address"
    for network, why in _BLOCKED:
        if address.version == network.version and address in network:
            if why.startswith(("an IPv4-mapped", "an IPv4-translated", "a NAT64 address")):
                embedded = IPv4Address(int(address) & 0xFFFFFFFF)
                return f"{why} (of {embedded})"
            return why
    if address.version == 6 and getattr(address, "scope_id", None):
        return "an address with a zone (scope) id"
    if not address.is_global:
        return "not a public address"
    if address.version == 6 and address not in _GLOBAL_UNICAST:
        # Python calls unallocated space (4000::/3, e000::/4) global; nothing public lives there.
        return "not in the allocated public (2000::/3) range"
    return None


class NonCanonicalIPv4(ValueError):
    """A host that some parser reads as an IPv4 address, written other than as a.b.c.d."""

    def __init__(self, host: str, meaning: IPv4Address | None):
        self.host, self.meaning = host, meaning
        if meaning is None:
            text = (f"{host!r} ends in a number, so URL parsers read it as an IPv4 address, and it is not one; "
                    "write an IPv4 address as a.b.c.d")
        else:
            text = (f"{host!r} is an IPv4 address in a decimal, hex, octal or shortened form (it means {meaning}); "
                    "only the dotted form a.b.c.d is accepted")
        super().__init__(text)


def looks_like_ipv4(host: str) -> bool:
    """True when the WHATWG URL standard would parse `host` as an IPv4 address (its last label is a number)."""
    last = host.rsplit(".", 1)[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and all(c in "0123456789abcdefABCDEF" for c in last[2:])


def parse_ipv4_host(host: str) -> IPv4Address:
    """The address of a host that `looks_like_ipv4`; NonCanonicalIPv4 unless it is written a.b.c.d."""
    meaning = _whatwg_ipv4(host)
    if meaning is None or str(meaning) != host:
        raise NonCanonicalIPv4(host, meaning)
    return meaning


def _whatwg_ipv4(host: str) -> IPv4Address | None:
    # What a browser (and curl, and inet_aton) would connect to, only to name it in the refusal.
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        # int() alone would also take "1_000", " 1" and "+1".
        if part[:2] in ("0x", "0X") and _HEX.fullmatch(part[2:]):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not _OCTAL.fullmatch(part):
                return None
            numbers.append(int(part, 8))
        elif _DECIMAL.fullmatch(part):
            numbers.append(int(part, 10))
        else:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return IPv4Address(value)
