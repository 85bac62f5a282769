"""Fetcher: synchronous fetches (BXML, media) against real local aiohttp servers."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from openband.config import Settings
from openband.delivery.fetch import (
    FetchDenied,
    Fetcher,
    FetchError,
    FetchRedirects,
    FetchResult,
    FetchStatus,
    FetchTimeout,
    FetchTooLarge,
    FetchUnreachable,
)
from openband.delivery.http import basic_auth
from openband.delivery.ssrf import UrlPolicy
from tests.support.webhook_sink import free_port

DEV = UrlPolicy.build(allow_loopback=True)
PROD = UrlPolicy.build()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A local server whose paths answer through handlers (default: 200 "ok" as text/plain)."""

    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> Server:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # A short shutdown: slow handlers of timed-out fetches must not hold the test up.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(text="ok", content_type="text/plain")
        return await handler(request)


def redirect(status: int, location: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handle


def answer(status: int = 200, body: bytes = b"ok", **headers: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers=headers)

    return handle


class FakeResolver(AbstractResolver):
    """Answers host names from a table, like a DNS server the attacker controls."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.table[host]
        ]

    async def close(self) -> None:
        pass


def run(
    fn: Callable[[Server, Fetcher], Awaitable[None]],
    policy: UrlPolicy = DEV,
    resolver: AbstractResolver | None = None,
) -> None:
    async def go() -> None:
        server = await Server().start()
        fetcher = Fetcher(policy, resolver=resolver)
        try:
            await fn(server, fetcher)
        finally:
            await fetcher.close()
            await server.stop()

    asyncio.run(go())


# --- plain answers -------------------------------------------------------------------------------


def test_get_returns_body_status_content_type_and_url() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/bxml"] = answer(body=b"<Response/>", **{"Content-Type": "application/xml"})
        res = await f.fetch(srv.url("/bxml"))
        assert isinstance(res, FetchResult)
        assert (res.status, res.body, res.url) == (200, b"<Response/>", srv.url("/bxml"))
        assert res.content_type == "application/xml"
        assert res.headers["content-type"] == "application/xml"  # case-insensitive
        assert res.redirects == 0 and res.elapsed_ms > 0
        (seen,) = srv.seen
        assert seen.method == "GET" and seen.body == b""
        assert seen.headers["User-Agent"] == "BandwidthAPI/v2"
        assert seen.headers["Accept-Encoding"] == "identity"
        assert "Authorization" not in seen.headers and "Cookie" not in seen.headers

    run(body)


def test_missing_content_type_is_empty_and_2xx_variants_pass() -> None:
    async def raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # aiohttp's server always sets a Content-Type
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        await writer.drain()
        writer.close()

    async def body(srv: Server, f: Fetcher) -> None:
        bare = await asyncio.start_server(raw, "127.0.0.1", 0)
        try:
            port = bare.sockets[0].getsockname()[1]
            res = await f.fetch(f"http://127.0.0.1:{port}/", timeout=2)
            assert res.status == 200 and res.body == b"hi" and res.content_type == ""
        finally:
            bare.close()
        srv.routes["/empty"] = answer(204, b"")
        srv.routes["/201"] = answer(201, b"made")
        assert (await f.fetch(srv.url("/empty"), max_bytes=0)).body == b""
        created = await f.fetch(srv.url("/201"))
        assert created.status == 201 and created.body == b"made"

    run(body)


def test_post_sends_body_content_type_and_extra_headers() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        res = await f.fetch(
            srv.url("/answer"),
            method="post",
            body=b'{"eventType":"answer"}',
            content_type="application/json",
            headers={"X-Extra": "1", "User-Agent": "custom/1"},
        )
        assert res.body == b"ok"
        (seen,) = srv.seen
        assert seen.method == "POST" and seen.body == b'{"eventType":"answer"}'
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["X-Extra"] == "1" and seen.headers["User-Agent"] == "custom/1"

    run(body)


def test_basic_auth_with_colon_in_user() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        await f.fetch(srv.url("/a"), auth=("user:x", "pw"))
        assert srv.seen[0].headers["Authorization"] == basic_auth("user:x", "pw")

    run(body)


def test_bad_arguments_raise_value_error() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        with pytest.raises(ValueError):
            await f.fetch(srv.url(), method="PUT")
        with pytest.raises(ValueError):
            await f.fetch(srv.url(), method="GET", body=b"x")
        with pytest.raises(ValueError):
            await f.fetch(srv.url(), max_bytes=-1)
        assert srv.seen == []

    run(body)


# --- failures ------------------------------------------------------------------------------------


def test_non_2xx_is_fetch_status_with_capped_body() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/500"] = answer(500, b"boom")
        srv.routes["/404"] = answer(404, b"y" * 5000)
        srv.routes["/noloc"] = answer(302, b"")  # a redirect status without Location is final
        with pytest.raises(FetchStatus) as err:
            await f.fetch(srv.url("/500"))
        assert err.value.status == 500 and err.value.body == b"boom"
        assert err.value.reason == "status" and err.value.url == srv.url("/500")
        with pytest.raises(FetchStatus) as err:
            await f.fetch(srv.url("/404"), max_bytes=100)
        assert err.value.status == 404 and err.value.body == b"y" * 100
        with pytest.raises(FetchStatus) as err:
            await f.fetch(srv.url("/noloc"))
        assert err.value.status == 302

    run(body)


def test_connection_refused_and_reset_are_unreachable() -> None:
    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async def body(srv: Server, f: Fetcher) -> None:
        url = f"http://127.0.0.1:{free_port()}/x"
        with pytest.raises(FetchUnreachable) as err:
            await f.fetch(url, timeout=2)
        assert err.value.url == url and "connect" in err.value.detail
        assert err.value.reason == "unreachable"
        srv.routes["/reset"] = reset
        with pytest.raises(FetchUnreachable):
            await f.fetch(srv.url("/reset"), timeout=2)

    run(body)


async def slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(5)
    return web.Response()


def test_slow_server_times_out_within_the_deadline() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/slow"] = slow
        t = time.monotonic()
        with pytest.raises(FetchTimeout) as err:
            await f.fetch(srv.url("/slow"), timeout=0.3)
        assert 0.25 < time.monotonic() - t < 1.0
        assert err.value.url == srv.url("/slow") and err.value.reason == "timeout"

    run(body)


def test_trickled_body_hits_the_deadline() -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": "100"})
        await resp.prepare(request)
        for _ in range(100):  # 10 s in all, each byte well inside any per-read timeout
            await resp.write(b"x")
            await asyncio.sleep(0.1)
        return resp

    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/trickle"] = trickle
        t = time.monotonic()
        with pytest.raises(FetchTimeout):
            await f.fetch(srv.url("/trickle"), timeout=0.5)
        assert time.monotonic() - t < 1.2

    run(body)


def test_deadline_covers_all_redirect_hops() -> None:
    def hop(n: int) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(0.2)
            return web.Response(status=302, headers={"Location": f"/hop{n + 1}"})

        return handle

    async def body(srv: Server, f: Fetcher) -> None:
        for n in range(4):  # 4 x 0.2 s: every hop fits a 0.5 s timeout, the chain does not
            srv.routes[f"/hop{n}"] = hop(n)
        t = time.monotonic()
        with pytest.raises(FetchTimeout) as err:
            await f.fetch(srv.url("/hop0"), timeout=0.5)
        assert time.monotonic() - t < 1.0
        assert err.value.url in {srv.url(f"/hop{n}") for n in (2, 3)}

    run(body)


def test_cancellation_is_not_turned_into_a_fetch_error() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/slow"] = slow
        task = asyncio.create_task(f.fetch(srv.url("/slow"), timeout=5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(body)


# --- size cap ------------------------------------------------------------------------------------


def test_declared_length_above_cap_is_refused_without_reading() -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Length": str(10**10)})
        await resp.prepare(request)
        await resp.write(b"x" * 1000)
        await asyncio.sleep(5)  # a fetch that waits for the body times out instead
        return resp

    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/huge"] = huge
        t = time.monotonic()
        with pytest.raises(FetchTooLarge) as err:
            await f.fetch(srv.url("/huge"), max_bytes=64 * 1024, timeout=2)
        assert time.monotonic() - t < 1.0
        assert str(10**10) in err.value.detail and err.value.reason == "too-large"

    run(body)


def test_endless_stream_is_cut_off_not_read_whole() -> None:
    state = {"written": 0, "done": asyncio.Event()}

    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"x" * 65536
        try:
            while True:  # ends only when the client hangs up
                await resp.write(chunk)
                state["written"] += len(chunk)  # type: ignore[operator]
        except (ConnectionError, RuntimeError):
            pass
        finally:
            state["done"].set()  # type: ignore[union-attr]
        return resp

    async def body(srv: Server, f: Fetcher) -> None:
        state["done"] = asyncio.Event()
        srv.routes["/endless"] = endless
        t = time.monotonic()
        with pytest.raises(FetchTooLarge):
            await f.fetch(srv.url("/endless"), max_bytes=100_000, timeout=3)
        assert time.monotonic() - t < 1.5
        # The fetcher hung up: the server's writes fail soon after, bounded by socket buffers.
        await asyncio.wait_for(state["done"].wait(), 2)  # type: ignore[union-attr]
        assert state["written"] < 32 * 1024 * 1024  # type: ignore[operator]

    run(body)


def test_gzip_body_is_decoded_and_bomb_is_capped() -> None:
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(z.compress(zeros) for _ in range(64)) + z.flush()  # 64 MiB inflated
    assert len(bomb) < 100_000

    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/gz"] = answer(
            body=gzip.compress(b"<Response/>"), **{"Content-Encoding": "gzip"}
        )
        srv.routes["/bomb"] = answer(body=bomb, **{"Content-Encoding": "gzip"})
        srv.routes["/br"] = answer(body=b"\x00", **{"Content-Encoding": "br"})
        srv.routes["/badgz"] = answer(body=b"not gzip", **{"Content-Encoding": "gzip"})
        res = await f.fetch(srv.url("/gz"))
        assert res.body == b"<Response/>"
        assert "Content-Encoding" not in res.headers and "Content-Length" not in res.headers
        tracemalloc.start()
        try:
            with pytest.raises(FetchTooLarge):
                await f.fetch(srv.url("/bomb"), max_bytes=200_000)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 * 1024 * 1024  # never inflated far beyond the cap
        with pytest.raises(FetchUnreachable, match="content-encoding"):
            await f.fetch(srv.url("/br"))
        with pytest.raises(FetchUnreachable, match="gzip"):
            await f.fetch(srv.url("/badgz"))

    run(body)


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "sent", "method", "body"),
    [
        (301, "GET", "GET", b""),
        (302, "GET", "GET", b""),
        (303, "GET", "GET", b""),
        (307, "GET", "GET", b""),
        (308, "GET", "GET", b""),
        (301, "POST", "GET", b""),
        (302, "POST", "GET", b""),
        (303, "POST", "GET", b""),
        (307, "POST", "POST", b"{}"),
        (308, "POST", "POST", b"{}"),
    ],
)
def test_redirect_methods(code: int, sent: str, method: str, body: bytes) -> None:
    async def go(srv: Server, f: Fetcher) -> None:
        srv.routes["/r"] = redirect(code, "/final")
        res = await f.fetch(
            srv.url("/r"),
            method=sent,
            body=b"{}" if sent == "POST" else None,
            content_type="application/json" if sent == "POST" else None,
            headers={"Content-Type": "application/json"} if sent == "POST" else None,
        )
        assert res.url == srv.url("/final") and res.redirects == 1 and res.body == b"ok"
        (final,) = srv.on("/final")
        assert final.method == method and final.body == body
        if method == "GET":
            assert "Content-Type" not in final.headers
        else:
            assert final.headers["Content-Type"] == "application/json"

    run(go)


def test_redirect_chain_relative_locations_and_same_origin_auth() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/a/one"] = redirect(301, "two")  # relative to /a/
        srv.routes["/a/two"] = redirect(302, "../b/three")
        srv.routes["/b/three"] = redirect(307, srv.url("/final"))
        res = await f.fetch(srv.url("/a/one"), auth=("u", "p"))
        assert res.url == srv.url("/final") and res.redirects == 3
        assert [s.path for s in srv.seen] == ["/a/one", "/a/two", "/b/three", "/final"]
        assert all(s.headers.get("Authorization") == basic_auth("u", "p") for s in srv.seen)

    run(body)


def test_redirect_loop_and_too_many_hops() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/loop"] = redirect(302, "/loop")
        with pytest.raises(FetchRedirects) as err:
            await f.fetch(srv.url("/loop"), max_redirects=3)
        assert len(srv.on("/loop")) == 4 and err.value.reason == "redirects"
        srv.routes["/r"] = redirect(302, "/final")
        with pytest.raises(FetchRedirects):
            await f.fetch(srv.url("/r"), max_redirects=0)
        assert (await f.fetch(srv.url("/r"), max_redirects=1)).url == srv.url("/final")

    run(body)


def test_credentials_never_follow_a_redirect_to_another_origin() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        other = await Server().start()  # same host, another port: another origin
        try:
            srv.routes["/r"] = redirect(302, other.url("/there"))
            other.routes["/there"] = redirect(307, srv.url("/back"))
            res = await f.fetch(
                srv.url("/r"),
                auth=("u", "p"),
                headers={"Cookie": "a=1", "X-Keep": "1"},
            )
            assert res.url == srv.url("/back") and res.redirects == 2
            (there,) = other.seen
            assert "Authorization" not in there.headers and "Cookie" not in there.headers
            assert there.headers["X-Keep"] == "1"
            first, back = srv.on("/r")[0], srv.on("/back")[0]
            assert first.headers["Authorization"] == basic_auth("u", "p")
            assert back.headers["Authorization"] == basic_auth("u", "p")  # first URL's origin
        finally:
            await other.stop()

    run(body)


# --- SSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "file:///etc/passwd",
    ],
)
def test_redirect_to_a_denied_literal_is_refused(target: str) -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/r"] = redirect(302, target)
        with pytest.raises(FetchDenied) as err:
            await f.fetch(srv.url("/r"), timeout=2)
        assert err.value.url == target and err.value.reason == "denied"

    run(body)


def test_redirect_to_loopback_literal_denied_in_production() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        # Enter through an allow-listed name that resolves to the local server...
        srv.routes["/r"] = redirect(302, srv.url("/final"))  # ...then jump to 127.0.0.1.
        with pytest.raises(FetchDenied, match="loopback"):
            await f.fetch(f"http://partner.example:{srv.port}/r", timeout=2)
        assert len(srv.on("/r")) == 1 and srv.on("/final") == []

    run(
        body,
        UrlPolicy.build(allow=["partner.example"]),
        FakeResolver({"partner.example": ["127.0.0.1"]}),
    )


def test_redirect_to_a_name_resolving_to_a_denied_address() -> None:
    resolver = FakeResolver({"partner.example": ["127.0.0.1"], "rebind.example": ["127.0.0.1"]})

    async def body(srv: Server, f: Fetcher) -> None:
        srv.routes["/r"] = redirect(302, f"http://rebind.example:{srv.port}/final")
        with pytest.raises(FetchDenied, match="loopback") as err:
            await f.fetch(f"http://partner.example:{srv.port}/r", timeout=2)
        assert err.value.url == f"http://rebind.example:{srv.port}/final"
        assert srv.on("/final") == []  # the server runs there: only the resolver check stopped it

    run(body, UrlPolicy.build(allow=["partner.example"]), resolver)


def test_name_resolving_to_a_private_address_is_denied() -> None:
    resolver = FakeResolver(
        {
            "evil.example": ["127.0.0.1"],
            "intranet.example": ["10.0.0.5"],
            "meta.example": ["169.254.169.254"],
        }
    )

    async def body(srv: Server, f: Fetcher) -> None:
        for host in ("evil.example", "intranet.example", "meta.example"):
            with pytest.raises(FetchDenied):
                await f.fetch(f"http://{host}:{srv.port}/x", timeout=2)
        with pytest.raises(FetchDenied):
            await f.fetch(srv.url("/x"))  # the literal, checked before connecting
        assert srv.seen == []

    run(body, PROD, resolver)


# --- lifecycle -----------------------------------------------------------------------------------


def test_fetcher_is_reusable_and_close_closes_it() -> None:
    async def body(srv: Server, f: Fetcher) -> None:
        results = await asyncio.gather(*(f.fetch(srv.url(f"/n{i}")) for i in range(20)))
        assert [r.body for r in results] == [b"ok"] * 20
        session = f.session
        assert (await f.fetch(srv.url("/again"))).body == b"ok"
        assert f.session is session  # one pool for every fetch
        await f.close()
        assert session.closed and f._session is None
        assert (await f.fetch(srv.url("/reopened"))).body == b"ok"  # lazily reopened

    run(body)


def test_from_settings_uses_the_ssrf_settings() -> None:
    prod = Fetcher.from_settings(Settings(production=True), limit=7)
    dev = Fetcher.from_settings(Settings(production=False))
    assert not prod.policy.allow_loopback and prod.limit == 7
    assert dev.policy.allow_loopback

    async def go() -> None:
        with pytest.raises(FetchDenied):
            await prod.fetch("http://127.0.0.1:1/x")
        await prod.close()
        await dev.close()

    asyncio.run(go())


def test_every_failure_is_a_fetch_error() -> None:
    assert all(
        issubclass(c, FetchError)
        for c in (
            FetchDenied,
            FetchUnreachable,
            FetchTimeout,
            FetchTooLarge,
            FetchRedirects,
            FetchStatus,
        )
    )
    assert {
        c.reason
        for c in (
            FetchDenied,
            FetchUnreachable,
            FetchTimeout,
            FetchTooLarge,
            FetchRedirects,
            FetchStatus,
        )
    } == {"denied", "unreachable", "timeout", "too-large", "redirects", "status"}
