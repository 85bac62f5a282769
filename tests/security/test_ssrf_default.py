"""Issue 12, item 1: with its defaults a server reachable from other hosts fetched loopback URLs
for anyone: bob's handset "sent" `http://127.0.0.1:<port>/secret.txt` as media and read a
local-only service's answer back; different errors ("connect failed" vs "HTTP 401") scanned
ports; callbacks to loopback went out too.

Loopback is allowed by default only while the server listens on loopback alone; listening on
any other address refuses it unless the operator says so (`--allow-loopback-urls`, printed at
start), and a refused address reads like a closed port.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from openband.config import Settings, loopback_only
from openband.delivery.ssrf import UrlPolicy
from tests.support.live import LiveServer, free_port, openband_exe

SECRET = b"the local-only service's secret"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("openband.example", False),
    ],
)
def test_loopback_urls_follow_who_can_reach_the_server(host: str, loopback: bool) -> None:
    assert loopback_only(host) is loopback
    policy = UrlPolicy.from_settings(Settings(host=host))
    assert policy.allow_loopback is loopback
    assert not policy.allow_private


def test_the_operator_decides_explicitly_and_production_refuses() -> None:
    assert UrlPolicy.from_settings(
        Settings(host="0.0.0.0", ssrf_allow_loopback=True)
    ).allow_loopback
    assert not UrlPolicy.from_settings(
        Settings(host="127.0.0.1", ssrf_allow_loopback=False)
    ).allow_loopback
    assert not UrlPolicy.from_settings(Settings(host="127.0.0.1", production=True)).allow_loopback


class _Secret:
    """A local-only service on 127.0.0.1 that answers its secret (and counts the asks)."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def secret(request: web.Request) -> web.Response:
            self.hits += 1
            return web.Response(body=SECRET, content_type="text/plain")

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/secret.txt", secret)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            ready.set()

        def run() -> None:
            self._loop.run_until_complete(start())
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/secret.txt"


class _Server(LiveServer):
    """`openband serve --host 0.0.0.0 [extra]`: reachable from other hosts."""

    extra: tuple[str, ...] = ()

    def start(self) -> None:
        self.create_account()
        self.port = free_port()
        cmd = [openband_exe(), "serve", "--host", "0.0.0.0", "--port", str(self.port),
               "--database", self.database_url, *self.extra]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        self._wait_ready()


@pytest.fixture(scope="module")
def secret() -> _Secret:
    return _Secret()


def _serve(tmp: Path, *extra: str) -> Iterator[_Server]:
    server = _Server(tmp)
    server.extra = extra
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _own_number(server: _Server) -> str:
    """A number of the server's account (a location is not needed to receive from handsets)."""
    import random

    from openband.store.db import make_sync_engine
    from openband.store.schema import phone_numbers

    tn = f"+1919555{random.randint(5000, 9999)}"
    engine = make_sync_engine(server.database_url)
    from datetime import UTC, datetime

    at = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            phone_numbers.insert().values(
                tn=tn, account_id=server.account_id, status="Inservice", npa=tn[2:5],
                nxx=tn[5:8], created_at=at, updated_at=at,
            )
        )  # fmt: skip
    engine.dispose()
    return tn


def _send(server: _Server, to: str, url: str) -> httpx.Response:
    with server.client() as c:
        return c.post("/sim/v1/messages", json={"from": "+19845552001", "to": to, "media": [url]})


def test_a_reachable_server_refuses_loopback_like_a_closed_port(
    tmp_path: Path, secret: _Secret
) -> None:
    for server in _serve(tmp_path):
        to = _own_number(server)
        refused = _send(server, to, secret.url())
        assert refused.status_code == 400, refused.text
        assert secret.hits == 0  # never asked
        closed_url = f"http://127.0.0.1:{free_port()}/secret.txt"
        closed = _send(server, to, closed_url)
        assert closed.status_code == 400, closed.text
        # Nothing tells a refused address from a closed port.
        assert refused.json()["description"].replace(secret.url(), "URL") == closed.json()[
            "description"
        ].replace(closed_url, "URL")
        assert SECRET.decode() not in refused.text
        assert "Loopback URLs are allowed" not in server.log_tail()


def test_the_operator_can_allow_loopback_and_it_says_so(tmp_path: Path, secret: _Secret) -> None:
    for server in _serve(tmp_path, "--allow-loopback-urls"):
        assert "Loopback URLs are allowed" in server.log_tail()
        r = _send(server, _own_number(server), secret.url())
        assert r.status_code == 202, r.text
        assert secret.hits >= 1


@pytest.mark.parametrize("kind", ["denied", "unreachable", "timeout"])
def test_fetch_failures_read_the_same(kind: str) -> None:
    """What a caller may learn from a failed media fetch: nothing about why (unit level, where
    a refused address, a closed port and a silent one can each be made to happen)."""
    from openband.core.simulator import SimulatorControl
    from openband.delivery.fetch import FetchDenied, FetchTimeout, FetchUnreachable
    from openband.errors import InvalidInput

    error = {"denied": FetchDenied, "unreachable": FetchUnreachable, "timeout": FetchTimeout}[kind]

    class Fetcher:
        async def fetch(self, url: str, **kw: object) -> object:
            raise error(url, f"{kind} detail: 127.0.0.1:22 is open")

    control = SimulatorControl.__new__(SimulatorControl)
    control.fetcher = Fetcher()  # type: ignore[assignment]
    with pytest.raises(InvalidInput) as exc:
        asyncio.run(control._fetch(0, "http://10.0.0.5/x.png", 1000))
    assert exc.value.description == "media[0]: http://10.0.0.5/x.png could not be fetched"
