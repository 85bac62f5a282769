"""A lease taken over after a crash: an MMS whose node dies while its media is being fetched.

Recipients of messages with media are the ones the send pump leases (core/messaging/engine.py:
the media is fetched outside any transaction, with `send_at` moved forward by the lease). Here the
media server does not answer the first GET, so the node is caught holding the lease, and is
SIGKILLed. Then:
- SQLite: the node is started again on the same database;
- PostgreSQL: a second node, running all along on the same database, is the one left.
Either way the recipient must stay untouched until the lease has passed (the media is fetched
again no earlier than the `send_at` read from the database at the kill), then be sent once:
one message-sending and one message-delivered event, acknowledged, and DELIVERED in the list.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cluster import (
    Node,
    Receiver,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    query,
    running,
    secret_keys_env,
    settled,
    start_all,
    wait_until,
)

pytestmark = [pytest.mark.slow]

LEASE = 9.0
ENV = {
    "OPENBAND_LEASE_SECONDS": str(LEASE),
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "2",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.2",
    "OPENBAND_CALLBACK_RETRY_MAX_SECONDS": "1",
}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))


def _recipient(url: str, message_id: str) -> tuple[str, datetime | None]:
    ((status, send_at),) = query(
        url, "SELECT status, send_at FROM message_recipients WHERE message_id = ?", (message_id,)
    )
    if isinstance(send_at, str):  # SQLite stores the timestamp as text
        send_at = datetime.fromisoformat(send_at)
    if send_at is not None and send_at.tzinfo is None:  # stored in UTC
        send_at = send_at.replace(tzinfo=UTC)
    return status, send_at


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_dead_nodes_media_lease_is_taken_over_once_it_passes(
    backend: str, tmp_path: Path
) -> None:
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        env = {**ENV, **secret_keys_env(url)}  # one sealing key for both nodes
        a = Node(tmp_path / "a", url, name=f"lease-a-{backend}", env=env)
        nodes = [a]
        if backend == "postgres":
            nodes.append(Node(tmp_path / "b", url, name="lease-b", env=env))
        with running(*nodes):
            a.start()
            rx.watch(a)
            with a.client(acct) as c:
                msg = provision_messaging(c, acct.account_id, rx.url("/status"), ("u", "p"))
            media = rx.serve_file("/cat.png", PNG, "image/png", stall=1)
            # Only node A runs while the message is claimed: the lease is certainly its.
            to = handset()
            with a.client(acct) as c:
                r = c.post(
                    f"/api/v2/users/{acct.account_id}/messages",
                    json=msg.message(to, "lease", media=[media]),
                )
            assert r.status_code == 202, r.text
            mid = r.json()["id"]
            wait_until(lambda: rx.fetches("/cat.png"), 20, 0.05, "node A fetching the media")
            if backend == "postgres":
                # The survivor starts while A holds the lease (A's fetch is hanging).
                start_all(nodes[1])
                rx.watch(nodes[1])

            a.kill()
            status, leased_until = _recipient(url, mid)
            assert status == "QUEUED" and leased_until is not None, (status, leased_until)
            (stalled,) = rx.fetches("/cat.png")
            assert stalled.sender == a.name
            wait_until(lambda: stalled.peer_gone, 10, 0.05, "the killed fetch to hang up")
            assert stalled.start < leased_until.timestamp()  # the lease was running at the kill

            survivor = a.start() if backend == "sqlite" else nodes[1]
            # The lease must still have most of its time to run: the survivor is up well before
            # it passes, so taking it over early would show.
            assert time.time() < leased_until.timestamp() - LEASE / 3, "restarted too late"
            with survivor.client(acct) as c:

                def delivered() -> bool:
                    item = message_states(c, acct.account_id, [mid]).get((mid, to), {})
                    return item.get("messageStatus") == "DELIVERED"

                wait_until(delivered, LEASE + 30, 0.1, "the message to be delivered")
            wait_until(lambda: settled(url, rx), 40, 0.2, "the work to settle")

    fetches = rx.fetches("/cat.png")
    assert len(fetches) == 2, [(h.sender, h.answer) for h in fetches]
    retry = fetches[1]
    # Taken over once the lease passed, not before, and by the node that was left.
    assert retry.start >= leased_until.timestamp(), retry.start - leased_until.timestamp()
    assert retry.answer == "200", retry
    if backend == "postgres":  # (a restarted node's new process is not known to the receiver)
        assert retry.sender == survivor.name, retry
    events = [h.events[0] for h in rx.callbacks("/status") if h.acked]
    types = sorted(e["type"] for e in events if e["message"]["id"] == mid and e["to"] == to)
    assert types == ["message-delivered", "message-sending"], types
    # One POST per event: nothing the dead node did is told twice.
    ids = [h.event_id for h in rx.callbacks("/status")]
    assert len(ids) == len(set(ids)), ids
