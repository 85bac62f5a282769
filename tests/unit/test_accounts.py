from __future__ import annotations

import asyncio

from openband.core.accounts import CredentialCache, hash_secret, verify_secret
from openband.store.accounts import CredentialRow
from tests.support.fakes import NullDb


def test_hash_roundtrip_and_salting() -> None:
    h1, h2 = hash_secret("s3cret"), hash_secret("s3cret")
    assert h1 != h2 and h1.startswith("scrypt$")
    assert verify_secret("s3cret", h1) and verify_secret("s3cret", h2)
    assert not verify_secret("S3cret", h1)
    assert not verify_secret("s3cret", "garbage")


def test_cache_is_invalidated_by_a_new_hash(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = {"h": hash_secret("old")}
    calls = {"verify": 0}
    from openband.core import accounts

    real_verify = accounts.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls["verify"] += 1
        return real_verify(secret, stored)

    async def fake_get(conn, kind, principal):  # type: ignore[no-untyped-def]
        return CredentialRow("acct", kind, principal, rows["h"])

    monkeypatch.setattr(accounts, "verify_secret", counting)
    monkeypatch.setattr(accounts.repo, "get_credential", fake_get)

    cache = CredentialCache(ttl_seconds=60)

    async def scenario() -> None:
        assert await cache.authenticate(NullDb(), ("basic",), "u", "old")
        assert await cache.authenticate(NullDb(), ("basic",), "u", "old")
        assert calls["verify"] == 1  # the second check came from the cache
        rows["h"] = hash_secret("new")
        cache._rows.clear()  # what a row-cache expiry does
        assert await cache.authenticate(NullDb(), ("basic",), "u", "old") is None
        assert await cache.authenticate(NullDb(), ("basic",), "u", "new")

    asyncio.run(scenario())
