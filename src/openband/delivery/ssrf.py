"""SSRF policy for every URL a user gives us (callbacks, BXML, media).

Two checks, both needed:
- `UrlPolicy.check_url` before a request: scheme, and the host when it is an IP literal (aiohttp
  connects to literals without asking the resolver);
- `PolicyResolver` at connect time: host names are resolved once, every address is checked, and
  only allowed addresses are handed to the connector, which connects to exactly those. There is
  no second lookup, so a DNS answer that changes between check and connect (rebinding) cannot
  slip a private address through.

Denied always (unless allow-listed): link-local (169.254/16 with cloud metadata, fe80::/10),
unspecified, multicast, reserved and other non-global ranges. Denied by default: private
(RFC 1918, fc00::/7, CGNAT 100.64/10), and loopback unless the server listens on loopback only
(outside production): see UrlPolicy.from_settings. IPv4 embedded in IPv6
(mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is judged as
the IPv4 address it carries.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult

if TYPE_CHECKING:
    from openband.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = frozenset({"http", "https"})

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPAT = ipaddress.ip_network("::/96")


class UrlDenied(OSError):
    """The URL or an address it resolves to is not allowed. An OSError so that aiohttp's connector
    reports it as a connection error of the request instead of crashing the session."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _V4_COMPAT and int(ip) > 1):  # ::/128 and ::1 are themselves
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: IPAddress) -> str:
    """'global' or the reason class: loopback, private, link-local, unspecified, multicast,
    reserved."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return classify(inner)
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip in _CGNAT or any(ip in n for n in _PRIVATE if n.version == ip.version):
        return "private"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:  # fec0::/10, ULA's ancestor
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"  # documentation, benchmarking, broadcast, Teredo, ...
    return "global"


def parse_ip(host: str) -> IPAddress | None:
    h = host.strip("[]")
    try:
        return ipaddress.ip_address(h.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return None


@dataclass(frozen=True)
class UrlPolicy:
    allow_private: bool = False
    allow_loopback: bool = False
    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()  # exact names
    suffixes: tuple[str, ...] = field(default=())  # ".corp.example" from "*.corp.example"

    @classmethod
    def build(
        cls,
        *,
        allow_private: bool = False,
        allow_loopback: bool = False,
        allow: Iterable[str] = (),
    ) -> UrlPolicy:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for raw in allow:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if entry.startswith("*."):
                suffixes.append(entry[1:])
            else:
                hosts.add(entry.rstrip("."))
        return cls(
            allow_private, allow_loopback, tuple(networks), frozenset(hosts), tuple(suffixes)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        from openband.config import loopback_only

        loopback = settings.ssrf_allow_loopback
        if loopback is None:
            # Only a server no one else can reach may fetch from loopback by default: reachable
            # from elsewhere, it would let a remote caller read local-only services.
            loopback = not settings.production and loopback_only(settings.host)
        return cls.build(
            allow_private=settings.ssrf_allow_private,
            allow_loopback=loopback,
            allow=settings.ssrf_allow,
        )

    def host_allowed(self, host: str) -> bool:
        """An allow-listed host name may resolve to any address."""
        h = host.lower().rstrip(".")
        return h in self.hosts or any(h.endswith(s) for s in self.suffixes)

    def deny_reason(self, ip: IPAddress) -> str | None:
        """None when `ip` may be connected to, else why not."""
        if any(ip.version == n.version and ip in n for n in self.networks):
            return None
        inner = embedded_ipv4(ip)
        if inner is not None and any(inner in n for n in self.networks if n.version == 4):
            return None
        kind = classify(ip)
        if kind == "global":
            return None
        if kind == "loopback" and self.allow_loopback:
            return None
        if kind == "private" and self.allow_private:
            return None
        return f"{kind} address {ip} is not allowed"

    def check_url(self, url: str) -> str:
        """Raise UrlDenied for a bad scheme or a denied IP literal; return the host."""
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises on a bad port
        except ValueError as exc:
            raise UrlDenied(f"invalid URL: {exc}") from None
        if parts.scheme.lower() not in SCHEMES:
            raise UrlDenied(f"scheme {parts.scheme or '(none)'!r} is not allowed")
        host = parts.hostname
        if not host:
            raise UrlDenied("URL has no host")
        ip = parse_ip(host)
        if ip is not None:
            reason = self.deny_reason(ip)
            if reason:
                raise UrlDenied(reason)
        elif _looks_numeric(host):
            # 2130706433, 0x7f.1, 127.1: legacy forms that resolvers map onto addresses.
            raise UrlDenied(f"host {host!r} is not a canonical address")
        return host

    def filter(self, host: str, addresses: Iterable[str]) -> list[str]:
        """The resolved addresses of `host` that may be connected to."""
        if self.host_allowed(host):
            return list(addresses)
        out = []
        for a in addresses:
            ip = parse_ip(a)
            if ip is not None and self.deny_reason(ip) is None:
                out.append(a)
        return out


def _looks_numeric(host: str) -> bool:
    h = host.lower().rstrip(".")
    labels = h.split(".")
    return all(lbl and (lbl.isdigit() or lbl.startswith("0x")) for lbl in labels)


class PolicyResolver(AbstractResolver):
    """aiohttp resolver that returns only addresses the policy allows (checked at connect time)."""

    def __init__(self, policy: UrlPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._inner = inner

    def _resolver(self) -> AbstractResolver:
        if self._inner is None:
            from aiohttp.resolver import ThreadedResolver

            self._inner = ThreadedResolver()
        return self._inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver().resolve(host, port, family)
        if self.policy.host_allowed(host):
            return results
        allowed, reasons = [], []
        for r in results:
            ip = parse_ip(r["host"])
            reason = self.policy.deny_reason(ip) if ip is not None else "unparsable address"
            if reason is None:
                allowed.append(r)
            else:
                reasons.append(reason)
        if not allowed:
            raise UrlDenied(f"{host}: " + ("; ".join(reasons) or "no addresses"))
        return allowed

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
