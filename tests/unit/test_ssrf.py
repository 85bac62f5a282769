from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from openband.config import Settings
from openband.delivery.fetch import FetchDenied, Fetcher, FetchError
from openband.delivery.http import HttpClient
from openband.delivery.ssrf import PolicyResolver, UrlDenied, UrlPolicy, classify
from tests.support.webhook_sink import Sink

DEV = UrlPolicy.build(allow_loopback=True)
PROD = UrlPolicy.build()


@pytest.mark.parametrize(
    ("addr", "kind"),
    [
        ("8.8.8.8", "global"),
        ("1.1.1.1", "global"),
        ("2001:4860:4860::8888", "global"),
        ("::ffff:8.8.8.8", "global"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),  # CGNAT
        ("100.127.255.254", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fec0::1", "private"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:192.168.0.1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
    ],
)
def test_classify(addr: str, kind: str) -> None:
    assert classify(ipaddress.ip_address(addr)) == kind


def test_boundaries_of_private_ranges() -> None:
    assert classify(ipaddress.ip_address("172.15.255.255")) == "global"
    assert classify(ipaddress.ip_address("172.32.0.0")) == "global"
    assert classify(ipaddress.ip_address("100.63.255.255")) == "global"
    assert classify(ipaddress.ip_address("100.128.0.0")) == "global"
    assert classify(ipaddress.ip_address("11.0.0.0")) == "global"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:80/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://100.100.100.200/",  # Alibaba metadata, CGNAT
        "http://[fd00::1]/",
        "https://192.168.0.10/cb",
    ],
)
def test_private_literals_denied_even_in_development(url: str) -> None:
    with pytest.raises(UrlDenied):
        DEV.check_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://[::ffff:127.0.0.1]:8080/"]
)
def test_loopback_allowed_in_development_denied_in_production(url: str) -> None:
    assert DEV.check_url(url)
    with pytest.raises(UrlDenied, match="loopback"):
        PROD.check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://x/",
        "javascript:alert(1)",
        "/relative",
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(UrlDenied):
        DEV.check_url(url)


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://0x7f.1/", "http://127.1/", "http://017700000001/"]
)
def test_numeric_host_forms_denied(url: str) -> None:
    with pytest.raises(UrlDenied):
        DEV.check_url(url)


def test_bad_urls_denied() -> None:
    for url in ("http:///nohost", "http://example.com:99999/", "http://[::1/"):
        with pytest.raises(UrlDenied):
            DEV.check_url(url)


def test_public_urls_pass() -> None:
    assert PROD.check_url("https://example.com/cb") == "example.com"
    assert PROD.check_url("http://8.8.8.8:8080/cb") == "8.8.8.8"
    assert PROD.check_url("https://[2001:4860:4860::8888]/cb") == "2001:4860:4860::8888"


def test_allow_list_of_cidrs_and_hosts() -> None:
    policy = UrlPolicy.build(allow=["10.1.0.0/16", "fd00::/8", "sink.internal", "*.corp.example"])
    assert policy.check_url("http://10.1.2.3/cb")
    with pytest.raises(UrlDenied):
        policy.check_url("http://10.2.0.1/cb")
    assert policy.check_url("http://[fd00::5]/cb")
    assert policy.check_url("http://[::ffff:10.1.0.9]/cb")  # mapped form of an allowed v4
    assert policy.host_allowed("sink.internal") and policy.host_allowed("SINK.internal.")
    assert policy.host_allowed("a.b.corp.example") and not policy.host_allowed("corp.example")
    assert not policy.host_allowed("evil-sink.internal")
    assert policy.filter("sink.internal", ["10.9.9.9"]) == ["10.9.9.9"]
    assert policy.filter("other", ["10.9.9.9", "8.8.8.8"]) == ["8.8.8.8"]


def test_allow_private_flag() -> None:
    policy = UrlPolicy.build(allow_private=True)
    assert policy.check_url("http://10.0.0.1/") and policy.check_url("http://100.64.1.1/")
    assert policy.check_url("http://[fd00::1]/")
    for url in ("http://169.254.169.254/", "http://127.0.0.1/", "http://224.0.0.1/"):
        with pytest.raises(UrlDenied):
            policy.check_url(url)


def test_from_settings() -> None:
    dev = UrlPolicy.from_settings(Settings(production=False))
    prod = UrlPolicy.from_settings(Settings(production=True))
    assert dev.allow_loopback and not prod.allow_loopback
    forced = UrlPolicy.from_settings(Settings(production=True, ssrf_allow_loopback=True))
    assert forced.allow_loopback
    off = UrlPolicy.from_settings(Settings(production=False, ssrf_allow_loopback=False))
    assert not off.allow_loopback
    listed = UrlPolicy.from_settings(
        Settings(ssrf_allow_private=True, ssrf_allow=["192.0.2.0/24", "hooks.lan"])
    )
    assert listed.allow_private and listed.host_allowed("hooks.lan")
    assert listed.check_url("http://192.0.2.7/")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBAND_SSRF_ALLOW", '["10.0.0.0/8", "sink.lan"]')
    monkeypatch.setenv("OPENBAND_SSRF_ALLOW_LOOPBACK", "false")
    s = Settings()
    assert s.ssrf_allow == ["10.0.0.0/8", "sink.lan"] and s.ssrf_allow_loopback is False


# --- connect-time enforcement -------------------------------------------------------------------


class FakeResolver(AbstractResolver):
    """Answers from a table; `answers` may change between calls (DNS rebinding)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        out = []
        for a in self.table[host]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append(
                ResolveResult(hostname=host, host=a, port=port, family=fam, proto=0, flags=0)
            )
        return out

    async def close(self) -> None:
        pass


def test_resolver_filters_private_answers() -> None:
    fake = FakeResolver(
        {
            "evil.example": ["10.0.0.5"],
            "meta.example": ["169.254.169.254"],
            "v6.example": ["fd00::1"],
            "mapped.example": ["::ffff:127.0.0.1"],
            "mixed.example": ["8.8.8.8", "192.168.1.1"],
            "public.example": ["93.184.216.34"],
            "sink.internal": ["10.0.0.9"],
        }
    )
    resolver = PolicyResolver(UrlPolicy.build(allow=["sink.internal"]), fake)

    async def go() -> None:
        for host in ("evil.example", "meta.example", "v6.example", "mapped.example"):
            with pytest.raises(UrlDenied):
                await resolver.resolve(host, 80)
        mixed = await resolver.resolve("mixed.example", 80)
        assert [r["host"] for r in mixed] == ["8.8.8.8"]
        assert [r["host"] for r in await resolver.resolve("public.example", 80)] == [
            "93.184.216.34"
        ]
        assert [r["host"] for r in await resolver.resolve("sink.internal", 80)] == ["10.0.0.9"]

    asyncio.run(go())


def test_hostname_resolving_to_loopback_is_blocked_at_connect_time_in_production() -> None:
    async def go() -> None:
        sink = await Sink().start()
        fake = FakeResolver({"rebind.example": ["127.0.0.1"]})
        prod = HttpClient(UrlPolicy.build(allow_loopback=False), resolver=fake)
        dev = HttpClient(UrlPolicy.build(allow_loopback=True), resolver=fake)
        try:
            url = f"http://rebind.example:{sink.port}/cb"
            denied = await prod.post_json(url, b"[]")
            assert denied.status is None and denied.error and denied.error.startswith("denied")
            assert sink.requests == []
            allowed = await dev.post_json(url, b"[]")
            assert allowed.status == 200 and len(sink.requests) == 1
        finally:
            await prod.close()
            await dev.close()
            await sink.stop()

    asyncio.run(go())


def test_an_allow_listed_name_may_resolve_anywhere() -> None:
    async def go() -> None:
        sink = await Sink().start()
        fake = FakeResolver({"flip.example": ["127.0.0.1"]})
        client = HttpClient(UrlPolicy.build(allow=["flip.example"]), resolver=fake)
        strict = HttpClient(UrlPolicy.build(), resolver=fake)
        try:
            url = f"http://flip.example:{sink.port}/cb"
            assert (await client.post_json(url, b"[]")).status == 200  # allow-listed by name
            res = await strict.post_json(url, b"[]")
            assert res.status is None and "loopback" in (res.error or "")
            assert len(sink.requests) == 1
        finally:
            await strict.close()
            await client.close()
            await sink.stop()

    asyncio.run(go())


# --- DNS rebinding: the attacker's name server changes its answer --------------------------------
#
# Two loopback addresses play two machines: 127.0.0.2 is "the attacker's public server" (the policy
# allow-lists 127.0.0.2/32, as it would let a global address through) and 127.0.0.1 is "the internal
# service" (loopback, refused: allow_loopback is off). A sink listens on each.

OUTSIDE, INSIDE = "127.0.0.2", "127.0.0.1"
REBIND_POLICY = UrlPolicy.build(allow=[f"{OUTSIDE}/32"])


class RebindingResolver(AbstractResolver):
    """An attacker's name server: the first answer for a name is harmless, every later one
    points inside (a zero TTL makes real resolvers ask again each time)."""

    def __init__(self) -> None:
        self.calls = 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls += 1
        addr = OUTSIDE if self.calls == 1 else INSIDE
        return [
            ResolveResult(
                hostname=host, host=addr, port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


async def _sinks_on_one_port() -> tuple[Sink, Sink]:
    """An internal service and an outside server on the same port of the two addresses."""
    for _ in range(20):
        inside = await Sink(host=INSIDE).start()
        try:
            outside = await Sink(host=OUTSIDE).start(inside.port)
        except OSError:  # that port is taken on 127.0.0.2: try another
            await inside.stop()
            continue
        return inside, outside
    raise RuntimeError("no port free on both loopback addresses")


async def _request(kind: str, client: HttpClient | Fetcher, url: str) -> str:
    """'ok' (a 2xx answer), 'denied' (the policy refused) or what else happened."""
    if kind == "callbacks":
        assert isinstance(client, HttpClient)
        res = await client.post_json(url, b"[]", timeout=5)
        if res.ok:
            return "ok"
        return "denied" if (res.error or "").startswith("denied") else f"failed: {res.error}"
    assert isinstance(client, Fetcher)
    try:
        await client.fetch(url, timeout=5)
    except FetchDenied:
        return "denied"
    except FetchError as exc:
        return f"failed: {exc}"
    return "ok"


def _client(kind: str, resolver: AbstractResolver) -> HttpClient | Fetcher:
    if kind == "callbacks":
        return HttpClient(REBIND_POLICY, resolver=resolver)
    return Fetcher(REBIND_POLICY, resolver=resolver)


@pytest.mark.parametrize("kind", ["callbacks", "fetches"])
def test_rebinding_between_check_and_connect_does_not_reach_inside(kind: str) -> None:
    """The policy's lookup is the connection's: a second lookup after the check would get the
    inside address."""

    async def go() -> None:
        inside, outside = await _sinks_on_one_port()
        resolver = RebindingResolver()
        client = _client(kind, resolver)
        try:
            got = await _request(kind, client, f"http://rebind.example:{inside.port}/x")
            assert inside.requests == [], "the request reached the internal service"
            assert got == "ok" and len(outside.requests) == 1, got
        finally:
            await client.close()
            await inside.stop()
            await outside.stop()

    asyncio.run(go())


@pytest.mark.parametrize("kind", ["callbacks", "fetches"])
def test_a_name_that_passed_once_is_checked_again(kind: str) -> None:
    """Passing the policy once earns a name no trust: its next answer, now inside, is refused.
    (The second request goes to another port: the connector's DNS cache is per host and port,
    and holds only answers the policy let through.)"""

    async def go() -> None:
        outside = await Sink(host=OUTSIDE).start()
        inside = await Sink(host=INSIDE).start()
        resolver = RebindingResolver()
        client = _client(kind, resolver)
        try:
            first = await _request(kind, client, f"http://rebind.example:{outside.port}/x")
            assert first == "ok" and len(outside.requests) == 1, first
            second = await _request(kind, client, f"http://rebind.example:{inside.port}/x")
            assert resolver.calls == 2  # the name was looked up again...
            assert inside.requests == [], "the request reached the internal service"
            assert second == "denied", second  # ...and its new answer refused
        finally:
            await client.close()
            await inside.stop()
            await outside.stop()

    asyncio.run(go())


def test_literal_ip_denied_before_connecting() -> None:
    async def go() -> None:
        sink = await Sink().start()
        client = HttpClient(UrlPolicy.build(allow_loopback=False))
        try:
            res = await client.post_json(sink.url(), b"[]")
            assert res.status is None and "loopback" in (res.error or "")
            assert sink.requests == []
        finally:
            await client.close()
            await sink.stop()

    asyncio.run(go())
