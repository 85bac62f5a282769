"""An in-process OpenBand (Starlette TestClient, lifespan and workers running) per backend."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.testclient import TestClient

from openband.config import Settings
from openband.core import accounts as core_accounts
from openband.store.db import Database

DASH = "/api"


@dataclass
class Account:
    """A fresh account and a client that speaks for it."""

    harness: Harness
    account_id: str
    username: str
    password: str
    api_token: str
    api_secret: str
    user_id: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    @property
    def client(self) -> TestClient:
        return self.harness.client

    def dash(self, method: str, path: str, xml: str | bytes | None = None, **kw):  # type: ignore[no-untyped-def]
        """A Dashboard request under /api/accounts/{id}; `path` starts with '/' or is ''."""
        headers = kw.pop("headers", {})
        if xml is not None:
            headers.setdefault("Content-Type", "application/xml; charset=utf-8")
            kw["content"] = xml.encode() if isinstance(xml, str) else xml
        kw.setdefault("auth", self.auth)
        return self.client.request(
            method, f"{DASH}/accounts/{self.account_id}{path}", headers=headers, **kw
        )


class Harness:
    def __init__(self, settings: Settings, backend: str) -> None:
        from openband.server import create_app

        self.settings = settings
        self.backend = backend
        self.app = create_app(settings)
        self.client = TestClient(self.app, raise_server_exceptions=True)

    def __enter__(self) -> Harness:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def run(self, coro_fn: Callable[[Database], object]):  # type: ignore[no-untyped-def]
        """Run `await coro_fn(db)` on the server's own event loop and database."""
        db = self.app.state.platform.db
        return self.client.portal.call(coro_fn, db)  # type: ignore[union-attr]

    def new_account(self, **limits: object) -> Account:
        suffix = secrets.token_hex(4)
        spec = core_accounts.NewAccount(
            account_id=str(int(time.time() * 1000) % 10**9) + suffix[:3],
            username=f"user-{suffix}",
            password=f"pw-{secrets.token_hex(6)}",
            v1_user_id=f"u-{suffix}",
            api_token=f"t-{suffix}",
            api_secret=f"s-{secrets.token_hex(6)}",
            name=f"Test {suffix}",
            limits=dict(limits) or None,
        )

        async def create(db: Database) -> None:
            async with db.begin() as conn:
                await core_accounts.create_account(conn, spec)

        self.run(create)
        return Account(
            self,
            spec.account_id,
            spec.username,
            spec.password,
            spec.api_token or "",
            spec.api_secret or "",
            spec.v1_user_id or "",
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError("condition not met within timeout")


def sync(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)
