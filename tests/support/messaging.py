"""Messaging test helpers: a provisioned sender (app, site, location, number), a fake carrier,
the outbox's events, and a callback sink on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select

from openband.core import provisioning as prov
from openband.core.messaging import Messaging
from openband.network.messaging import CarrierSink, OutboundMessage, StatusReport
from openband.store import numbers
from openband.store.db import Database
from openband.store.schema import callback_events
from tests.support.harness import Account

_rng = random.Random()


def random_tn(npa: str = "919") -> str:
    # Lines 0100-0199 of 555 are the simulator's reserved handsets: stay clear of 555.
    return f"+1{npa}{_rng.randint(200, 999)}{_rng.randint(0, 9999):04d}"


ADDRESS = {
    "house_number": "1600",
    "street_name": "PENNSYLVANIA",
    "city": "WASHINGTON",
    "state_code": "DC",
    "zip": "20006",
}


@dataclass
class Sender:
    account: Account
    tn: str
    app_id: str
    site_id: int
    peer_id: int

    def send(
        self, to: Any = None, text: str | None = "hello", *, path: str = "/api/v2", **body: Any
    ):  # type: ignore[no-untyped-def]
        doc: dict[str, Any] = {
            "applicationId": self.app_id,
            "from": self.tn,
            "to": to or [random_tn()],
        }
        if text is not None:
            doc["text"] = text
        doc.update(body)
        return self.account.client.post(
            f"{path}/users/{self.account.account_id}/messages",
            content=orjson.dumps(doc),
            headers={"Content-Type": "application/json"},
            auth=self.account.auth,
        )


def provision_sender(
    acct: Account,
    *,
    sms: bool = True,
    mms: bool = True,
    link_app: bool = True,
    config: dict[str, Any] | None = None,
    tn: str | None = None,
) -> Sender:
    number = tn or random_tn()
    cfg = config if config is not None else {"callback_url": "http://127.0.0.1:9/cb"}

    async def go(db: Database) -> Sender:
        async with db.begin() as conn:
            app = await prov.create_application(
                conn,
                acct.account_id,
                prov.ApplicationInput(service_type="Messaging-V2", name="msg app", config=cfg),
                sealer=acct.harness.app.state.platform.sealer,  # the server's: its sink opens
            )
            site = await prov.create_site(
                conn, acct.account_id, prov.SiteInput(name="site", address=ADDRESS)
            )
            peer = await prov.create_peer(
                conn, acct.account_id, site.id, prov.PeerInput(name="loc", is_default="true")
            )
            if sms:
                await prov.set_sms_feature(
                    conn, acct.account_id, site.id, peer.id, {"protocol": "HTTP"}, create=True
                )
            if mms:
                await prov.set_mms_feature(
                    conn, acct.account_id, site.id, peer.id, "HTTP", create=True
                )
            if link_app:
                await prov.link_messaging_application(
                    conn, acct.account_id, site.id, peer.id, app.id
                )
            await numbers.insert_new(
                conn,
                [
                    {
                        "tn": number,
                        "account_id": acct.account_id,
                        "site_id": site.id,
                        "peer_id": peer.id,
                        "npa": number[2:5],
                        "nxx": number[5:8],
                    }
                ],
                db.dialect,
            )
            return Sender(acct, number, app.id, site.id, peer.id)

    return acct.harness.run(go)


def engine(acct: Account) -> Messaging:
    return acct.harness.app.state.platform.messaging  # type: ignore[no-any-return]


@dataclass
class FakeCarrier:
    """Reports sending (MMS), sent, then delivered, or failed with `fail[recipient]`; takes
    `silent` recipients without a word (as a carrier that reports later would)."""

    name: str = "fake"
    fail: dict[str, int] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    submitted: list[OutboundMessage] = field(default_factory=list)

    async def submit(self, messages: Sequence[OutboundMessage], sink: CarrierSink) -> None:
        for message in messages:
            await self._one(message, sink)

    async def _one(self, message: OutboundMessage, sink: CarrierSink) -> None:
        self.submitted.append(message)
        if message.to in self.silent:
            return

        async def rep(status: str, **kw: Any) -> None:
            r = StatusReport(message.message_id, message.to, status, carrier_name=self.name, **kw)  # type: ignore[arg-type]
            await sink.report((r,))

        if message.message_type == "mms":
            await rep("sending")
        code = self.fail.get(message.to)
        if code is not None:
            await rep("failed", error_code=code)
            return
        await rep("sent")
        await rep("delivered", description="ok")
        await rep("delivered", description="ok")  # a duplicate DLR: ignored
        await rep("failed", error_code=4720)  # a regression: ignored

    async def on_timer(self, ref: str, sink: CarrierSink) -> None:
        raise AssertionError(f"the fake carrier sets no timers ({ref})")


def events_for(acct: Account, message_id: str) -> list[dict[str, Any]]:
    async def go(db: Database) -> list[dict[str, Any]]:
        async with db.connect() as conn:
            rows = await conn.execute(
                select(callback_events)
                .where(callback_events.c.message_id == message_id)
                .order_by(callback_events.c.ordering_key, callback_events.c.seq)
            )
            return [dict(r._mapping) for r in rows]

    return acct.harness.run(go)


class CallbackSink:
    """An aiohttp server on 127.0.0.1 in a thread of its own; records every POST."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def handle(request: web.Request) -> web.Response:
            self.received.append(
                {
                    "path": request.path,
                    "auth": request.headers.get("Authorization"),
                    "body": orjson.loads(await request.read()),
                }
            )
            return web.Response(status=204)

        async def start() -> None:
            app = web.Application()
            app.router.add_post("/{tail:.*}", handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def __enter__(self) -> CallbackSink:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
