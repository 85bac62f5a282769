"""Issue 12, item 5: a number disconnected and bought by another account still sent for its old
owner for ~5 s, from the sender cache. Every change of a number's owner, location or application
bumps a version in the database (store/versions.py) that each process reads at most every
`cache_check_seconds` (0.2 s) and empties those caches when it moves: a change made by any
process or node is seen within that time."""

from __future__ import annotations

import time
from typing import Any

from openband.store import numbers
from openband.store.db import Database
from tests.support.harness import Account
from tests.support.messaging import provision_sender

WITHIN = 0.2 + 0.3  # the check interval, and room for one read of the version


def _elsewhere(account: Account, fn: Any) -> Any:
    """Run `fn(conn)` in a transaction of a Database of its own: what another node does."""
    url = account.harness.app.state.platform.settings.database_url

    async def go(_db: Database) -> Any:
        other = Database(url, pool_size=1)
        try:
            async with other.begin() as conn:
                return await fn(conn)
        finally:
            await other.dispose()

    return account.harness.run(go)


def test_a_number_released_elsewhere_stops_sending_at_once(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    s = provision_sender(alice)
    assert s.send(None, "cached now").status_code == 202  # the sender is in the cache

    async def move_to_bob(conn: Any) -> None:
        assert await numbers.release(conn, alice.account_id, [s.tn]) == [s.tn]
        row = {"tn": s.tn, "account_id": bob.account_id, "npa": s.tn[2:5], "nxx": s.tn[5:8]}
        assert await numbers.insert_new(conn, [row], conn.dialect.name) == [s.tn]

    _elsewhere(alice, move_to_bob)
    time.sleep(WITHIN)
    r = s.send(None, "not mine any more")
    assert r.status_code == 400, r.text
    assert "is not a telephone number in service" in r.json()["fieldErrors"][0]["description"]


def test_a_location_losing_sms_elsewhere_stops_sending(account: Account) -> None:
    from openband.store import provisioning

    s = provision_sender(account)
    assert s.send(None, "cached now").status_code == 202

    async def drop_sms(conn: Any) -> None:
        await provisioning.update_peer(conn, s.peer_id, {"sms_feature": None})

    _elsewhere(account, drop_sms)
    time.sleep(WITHIN)
    r = s.send(None, "no SMS here now")
    assert r.status_code == 400 and "SMS is not enabled" in r.text
