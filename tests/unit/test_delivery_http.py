from __future__ import annotations

import asyncio
import base64
import time

import pytest
from aiohttp import web

from openband.delivery import signing
from openband.delivery.http import HttpClient
from openband.delivery.ssrf import UrlPolicy
from tests.support.webhook_sink import Sink, free_port


def run(fn):  # type: ignore[no-untyped-def]
    """Run `await fn(sink, client)` with a fresh sink and a development-policy client."""

    async def go() -> None:
        sink = await Sink().start()
        client = HttpClient(UrlPolicy.build(allow_loopback=True))
        try:
            await fn(sink, client)
        finally:
            await client.close()
            await sink.stop()

    asyncio.run(go())


def test_post_json_headers_auth_and_body() -> None:
    async def body(sink: Sink, client: HttpClient) -> None:
        res = await client.post_json(
            sink.url("/cb"), b'[{"a":1}]', auth=("user:x", "pw"), headers={"X-Extra": "1"}
        )
        assert res.ok and res.status == 200 and res.error is None and res.latency_ms > 0
        (req,) = sink.requests
        assert req.body == b'[{"a":1}]'
        assert req.headers["Content-Type"] == "application/json; charset=utf-8"
        assert req.headers["User-Agent"] == "BandwidthAPI/v2"
        assert req.headers["X-Extra"] == "1"
        assert req.headers["Authorization"] == "Basic " + base64.b64encode(b"user:x:pw").decode()

    run(body)


@pytest.mark.parametrize(("answer", "status"), [("500", 500), ("404", 404), ("302", 302)])
def test_non_2xx_is_a_failed_result(answer: str, status: int) -> None:
    async def body(sink: Sink, client: HttpClient) -> None:
        sink.script("/cb", [answer])
        res = await client.post_json(sink.url("/cb"), b"[]")
        assert res.status == status and not res.ok and res.error == f"HTTP {status}"

    run(body)


def test_2xx_variants_are_ok() -> None:
    async def body(sink: Sink, client: HttpClient) -> None:
        for answer in ("200", "201", "204", "299"):
            sink.script("/cb", [answer])
            sink.hits.clear()
            assert (await client.post_json(sink.url("/cb"), b"[]")).ok

    run(body)


def test_network_failures_never_raise() -> None:
    async def body(sink: Sink, client: HttpClient) -> None:
        sink.script("/slow", ["sleep:2"])
        sink.script("/reset", ["reset"])
        t = time.monotonic()
        slow = await client.post_json(sink.url("/slow"), b"[]", timeout=0.2)
        assert slow.status is None and slow.error == "timeout" and time.monotonic() - t < 1.5
        reset = await client.post_json(sink.url("/reset"), b"[]")
        assert reset.status is None and reset.error
        refused = await client.post_json(f"http://127.0.0.1:{free_port()}/cb", b"[]")
        assert refused.status is None and "connect" in (refused.error or "")
        bad = await client.post_json("ftp://127.0.0.1/cb", b"[]")
        assert bad.status is None and (bad.error or "").startswith("denied")
        nodns = await client.post_json("http://does-not-exist.invalid/cb", b"[]", timeout=5)
        assert nodns.status is None and nodns.error

    run(body)


def test_large_answer_is_not_read_whole() -> None:
    """A receiver answering 200 with an endless body: the attempt is over (200) once the status
    is in, and the client hangs up instead of reading on. Reading the whole answer would never
    end: the attempt would run into its timeout."""
    written = 0
    hung_up = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal written
        await request.read()
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            while True:  # ends only when the client hangs up
                await resp.write(b"x" * 65536)
                written += 65536
        except (ConnectionError, RuntimeError):
            hung_up.set()
        return resp

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/endless", endless)
        app.router.add_post("/ok", ok)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        client = HttpClient(UrlPolicy.build(allow_loopback=True))
        try:
            res = await client.post_json(f"http://127.0.0.1:{port}/endless", b"[]", timeout=5)
            assert res.status == 200 and res.error is None, res
            await asyncio.wait_for(hung_up.wait(), 5)  # the client closed the connection
            assert written < 32 * 1024 * 1024  # bounded by socket buffers, not the answer
            # The pool is still usable: the next attempt gets a fresh connection.
            assert (await client.post_json(f"http://127.0.0.1:{port}/ok", b"[]")).status == 200
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(go())


def test_keep_alive_reuses_connections() -> None:
    async def body(sink: Sink, client: HttpClient) -> None:
        for _ in range(20):
            assert (await client.post_json(sink.url("/cb"), b"[]")).ok
        peers = {r.headers.get("Connection", "") for r in sink.requests}
        assert "close" not in {p.lower() for p in peers}

    run(body)


# --- media ---------------------------------------------------------------------------------------


# Media and other fetches that return a body: tests/unit/test_fetch.py (delivery/fetch.py).


# --- signing -------------------------------------------------------------------------------------


def test_signature_roundtrip() -> None:
    body = b'[{"type":"message-delivered"}]'
    header = signing.sign("s3cret", body, timestamp=1700000000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert signing.verify("s3cret", body, header, now=1700000010)
    assert signing.verify(b"s3cret", body, header, now=1700000010)


def test_signature_rejections() -> None:
    body = b"[]"
    header = signing.sign("s3cret", body, timestamp=1700000000)
    assert not signing.verify("other", body, header, now=1700000000)
    assert not signing.verify("s3cret", b"[ ]", header, now=1700000000)
    assert not signing.verify("s3cret", body, header, now=1700000000 + 301)  # stale
    assert signing.verify("s3cret", body, header, now=1700009999, tolerance=0)
    assert not signing.verify("s3cret", body, None)
    assert not signing.verify("s3cret", body, "garbage")
    assert not signing.verify("s3cret", body, "t=abc,v1=00")
    forged = header.replace("t=1700000000", "t=1700000001")
    assert not signing.verify("s3cret", body, forged, now=1700000000)


def test_signature_rotation_accepts_any_v1() -> None:
    body = b"[]"
    good = signing.sign("new", body, timestamp=5).split(",")[1]
    header = f"t=5,v1={'0' * 64},{good}"
    assert signing.verify("new", body, header, now=5)
