"""Two `openband serve` processes on one PostgreSQL database share the work, and one takes over
what the other had claimed when it dies.

Both nodes accept messages, run the messaging pump and deliver callbacks from the one outbox.
The receiver tells the nodes' requests apart by the process that owns each connection (/proc).

Phase 1 (sharing): messages are sent to both nodes; every recipient reaches its final state;
each is told its outcome by exactly one event id; no event is POSTed twice, let alone by both
nodes at once; both nodes delivered callbacks.

Phase 2 (takeover): the receiver is made slow (0.4 s per answer, 4 connections per node) so that
the outbox drains slowly; once every message is final (the pumps hold nothing) and node A has
callbacks in flight, A is SIGKILLed. Node B delivers everything, including the events A had
claimed, once A's lease lapses. The delivery lease is callback_timeout_seconds * 9 + 30 s
(delivery/worker.py: QUEUE_FACTOR + 1 timeouts + LEASE_MARGIN), 39 s with the 1 s timeout used
here: only the 30 s margin is fixed. The messaging pump's lease (60 s, core/messaging.py) is not
exercised: A is killed only when its pump holds no claims.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import (
    Node,
    Receiver,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    reserved,
    running,
    secret_keys_env,
    start_all,
    wait_settled,
    wait_until,
)

pytestmark = [pytest.mark.slow]

TIMEOUT = 1.0
LEASE = TIMEOUT * 9 + 30  # delivery/worker.py
PER_HOST = 4
ENV = {
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": str(TIMEOUT),
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.2",
    "OPENBAND_CALLBACK_RETRY_MAX_SECONDS": "1",
    "OPENBAND_CALLBACK_PER_HOST": str(PER_HOST),
}
CREDS = ("two-nodes", "pw")
PATH = "/status"


def send_many(
    nodes: list[Node], auth: tuple[str, str], account: str, docs: list[dict]
) -> set[tuple[str, str]]:
    """POST every doc, spread over the nodes by 4 threads; (message id, recipient) pairs."""
    out: set[tuple[str, str]] = set()
    lock = threading.Lock()
    errors: list[str] = []

    def worker(i: int) -> None:
        node = nodes[i % len(nodes)]
        with httpx.Client(base_url=node.base_url, auth=auth, timeout=30) as c:
            for doc in docs[i::4]:
                r = c.post(f"/api/v2/users/{account}/messages", json=doc)
                with lock:
                    if r.status_code == 202:
                        out.update((r.json()["id"], to) for to in doc["to"])
                    else:
                        errors.append(f"{node.name}: {r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(out) == sum(len(d["to"]) for d in docs)
    return out


def wait_final(c: httpx.Client, account: str, sent: set[tuple[str, str]], timeout: float) -> None:
    def done() -> bool:
        states = message_states(c, account, [mid for mid, _ in sent])
        return all(states.get(k, {}).get("messageStatus") in ("DELIVERED", "FAILED") for k in sent)

    wait_until(done, timeout, 0.3, "final states")


def test_two_nodes_share_the_outbox_and_take_over_a_dead_nodes_claims(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random()
    with database("postgres", tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        env = {**ENV, **secret_keys_env(url)}  # one sealing key for both nodes
        a = Node(tmp_path / "a", url, name="node-a", env={**env, "OPENBAND_WORKER_ID": "node-a"})
        b = Node(tmp_path / "b", url, name="node-b", env={**env, "OPENBAND_WORKER_ID": "node-b"})
        start_all(a, b)
        rx.watch(a)
        rx.watch(b)
        with running(a, b), a.client(acct) as ca, b.client(acct) as cb:
            msg = provision_messaging(ca, acct.account_id, rx.url(PATH), CREDS)

            def doc(i: int, groups: bool = False) -> dict:
                if groups and i % 10 == 5:  # a group MMS: message-sending, then delivered
                    return msg.message([handset(), handset()], f"group {i}")
                to = reserved("0101") if i % 10 == 0 else handset()
                return msg.message(to, f"two nodes {i} {rng.random()}")

            # --- phase 1: both nodes accept, send and deliver --------------------------------
            rx.delay = 0.05  # widen the window in which a double send would overlap
            sent1 = send_many(
                [a, b], acct.auth, acct.account_id, [doc(i, True) for i in range(200)]
            )
            wait_final(cb, acct.account_id, sent1, 30)

            def told(sent: set[tuple[str, str]]) -> bool:
                finals = rx.finals_by_recipient(PATH)
                return all(k in finals for k in sent)

            wait_until(lambda: told(sent1), 30, 0.2, "phase 1 callbacks")
            wait_settled(url, rx)  # whatever could still arrive has arrived
            hits1 = rx.callbacks(PATH)
            per_event = Counter(h.event_id for h in hits1)
            assert not [e for e, n in per_event.items() if n > 1], "an event was POSTed twice"
            assert not rx.overlaps, rx.overlaps
            finals = rx.finals_by_recipient(PATH)
            assert all(len(finals[k]) == 1 for k in sent1)
            # Order per recipient holds across nodes: message-sending acknowledged first.
            first_final: dict[tuple[str, str], float] = {}
            sending_acked: dict[tuple[str, str], float] = {}
            for h in hits1:
                ev = h.events[0]
                key = (ev["message"]["id"], ev["to"])
                if ev["type"] == "message-sending":
                    sending_acked[key] = h.end
                else:
                    first_final[key] = min(first_final.get(key, h.start), h.start)
            assert len(sending_acked) == 20 * 2, len(sending_acked)  # 20 groups of 2
            for key, acked_at in sending_acked.items():
                assert first_final[key] >= acked_at - 0.05, key
            senders1 = Counter(h.sender for h in hits1)
            assert senders1["node-a"] > 0 and senders1["node-b"] > 0, senders1
            t_phase1 = time.monotonic() - started

            # --- phase 2: A dies holding claims; B takes them over after the lease -----------
            rx.delay = 0.4
            n_before = len(rx.callbacks(PATH))
            sent2 = send_many([a, b], acct.auth, acct.account_id, [doc(i) for i in range(240)])
            # Every recipient final: neither pump holds a claim, only the outbox has work.
            wait_final(cb, acct.account_id, sent2, 30)

            def a_busy() -> bool:
                # A request of A's that has most of its 0.4 s still to go: the kill lands
                # while A waits for the answer, not just after.
                with rx._lock:
                    return any(
                        h.sender == "node-a" and not h.end and time.time() - h.start < 0.1
                        for h in rx.hits
                    )

            wait_until(a_busy, 20, 0.01, "node A sending callbacks")
            a.kill()
            t_kill = time.time()
            remaining = len(sent2) - (len(rx.finals_by_recipient(PATH)) - len(sent1))
            assert remaining > 3 * PER_HOST * 8, f"too little left to take over ({remaining})"

            wait_until(lambda: told(sent2), LEASE + 25, 0.5, "phase 2 callbacks after the kill")
            t_done = time.time()
            wait_settled(url, rx, LEASE + 25)

    hits = rx.callbacks(PATH)
    assert len(hits) > n_before
    assert not rx.overlaps, f"events POSTed concurrently: {rx.overlaps}"
    finals = rx.finals_by_recipient(PATH)
    both = sent1 | sent2
    twice = {k: v for k, v in finals.items() if len(v) > 1}
    assert not twice, twice
    assert set(finals) == both

    by_event: dict[str, list] = defaultdict(list)
    for h in hits:
        by_event[h.event_id].append(h)
    # Events A was sending at the kill: the sink saw A hang up, and B sent them again.
    a_in_flight = {h.event_id for h in hits if h.sender == "node-a" and h.peer_gone}
    assert a_in_flight, "node A had no callback in flight at the kill"
    for eid in a_in_flight:
        seen = sorted(by_event[eid], key=lambda h: h.start)
        assert seen[0].sender == "node-a" and seen[0].peer_gone, seen
        assert any(h.sender == "node-b" and h.acked for h in seen[1:]), seen
    # Everything sent after the kill came from B; the ones A had claimed came only after its
    # lease, and well within it plus a margin.
    late = [h for h in hits if h.start > t_kill]
    assert late and all(h.sender == "node-b" for h in late), Counter(h.sender for h in late)
    taken_over = [h for h in late if by_event[h.event_id][0].sender == "node-a"]
    first_takeover = min(h.start for h in taken_over) - t_kill if taken_over else None
    assert taken_over, "no event of node A was sent again by node B"
    assert t_done - t_kill < LEASE + 20
    # Only the kill may cause a second POST of one event, and only of events A had touched.
    repeated = {e for e, hs in by_event.items() if len(hs) > 1}
    assert all(by_event[e][0].sender == "node-a" for e in repeated), repeated
    assert all(len(by_event[e]) == 2 for e in repeated)
    print(
        f"phase 1 {len(sent1)} recipients in {t_phase1:.1f}s ({dict(senders1)}); phase 2: "
        f"A killed with {len(a_in_flight)} callbacks in flight and {remaining} events to go; "
        f"B re-sent A's first claim {first_takeover:.1f}s after the kill, "
        f"all told {t_done - t_kill:.1f}s after it; {len(repeated)} events POSTed twice; "
        f"{time.monotonic() - started:.1f}s in all"
    )
