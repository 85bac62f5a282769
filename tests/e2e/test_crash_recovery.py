"""Crash recovery: SIGKILL `openband serve` in the middle of a stream of sends, start it again on
the same database, and check that nothing accepted is lost and no outcome is told twice.

Black-box: a real server process, the Dashboard API to provision, the Messaging v2 API to send and
read, and a callback receiver on 127.0.0.1. What must hold for every message that got a 202:
- it reaches a final state (DELIVERED or FAILED, the one the simulated handset dictates) for each
  recipient, after the restart; the mix includes group MMS, reserved numbers failing before and
  after sending, and reserved numbers whose outcome is a durable simulator job (0104 delivered
  5 s later, 0103 failing 9902 after the receipt timeout), so jobs straddle the kill too;
- the receiver acknowledged exactly one message-delivered/message-failed event per recipient
  (redeliveries of one event carry the same X-OpenBand-Event-Id and count once);
- an MMS recipient's message-sending reached the receiver before its final event.
Requests that got no answer (in flight at the kill) may or may not have been accepted: they are
only counted, never asserted on, beyond "no more unknown outcomes than unanswered requests".

The kill hits work in flight, and the test proves it: the database is read right after the kill
(nothing writes to it until the restart, so this is its state at the kill), and it must hold
recipients not yet final, callback events not yet delivered and jobs still to run. Each of those
recipients reaches exactly one final outcome after the restart (one acknowledged final event),
and each of those events is delivered. The receiver answers slowly (0.2 s), and the kill waits
for a callback being answered: the sender hangs up mid-request, and that event is sent again.

Timing: the messaging pump's claim lease is OPENBAND_LEASE_SECONDS (10 s here), so a recipient
claimed by the killed process just before the kill is handed over 10 s later; the delivery
worker's lease is callback_timeout_seconds * 9 + 30 s (39 s here). The test waits for both.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import (
    FINAL_STATUSES,
    FINAL_TYPES,
    Node,
    Receiver,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    query,
    reserved,
    running,
    settled,
    unfinished,
    wait_until,
)

pytestmark = [pytest.mark.slow]

KILL_AFTER = 300  # accepted messages before the SIGKILL
AFTER_RESTART = 60  # accepted messages after the restart
SENDERS = 4  # client threads
PUMP_LEASE = 10.0  # OPENBAND_LEASE_SECONDS: the pump's (and the jobs') claims
DELIVERY_LEASE = 1.0 * 9 + 30  # delivery/worker.py, with the 1 s callback timeout
FINAL_TIMEOUT = PUMP_LEASE + 40.0
RECEIVER_DELAY = 0.2  # seconds the receiver takes to answer each callback
CREDS = ("cb-user", "cb-pass")
ENV = {
    "OPENBAND_LEASE_SECONDS": str(PUMP_LEASE),
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "1",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.2",
    "OPENBAND_CALLBACK_RETRY_MAX_SECONDS": "1",
    "OPENBAND_SIM_RECEIPT_TIMEOUT_SECONDS": "3",
}

# What the simulator does with each kind of recipient: (status, errorCode, callback type).
OUTCOME = {
    "handset": ("DELIVERED", 0, "message-delivered"),
    "0101": ("FAILED", 4720, "message-failed"),  # sent, then failed
    "0106": ("FAILED", 4432, "message-failed"),  # failed before sending
    # Durable simulator timers (carrier_timer jobs) that may straddle the kill:
    "0104": ("DELIVERED", 0, "message-delivered"),  # delivered 5 s after sent
    "0103": ("FAILED", 9902, "message-failed"),  # no receipt: 9902 after the receipt timeout
}


@dataclass
class Stream:
    """Client threads posting messages until told to stop; every answer is recorded."""

    url: str
    auth: tuple[str, str]
    account: str
    body: Any  # callable(rng) -> (json body, {recipient: kind})
    accepted: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {to: kind}
    mms: set[str] = field(default_factory=set)
    unanswered: int = 0
    other: Counter[int] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(SENDERS):
            t = threading.Thread(target=self._run, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        path = f"/api/v2/users/{self.account}/messages"
        deadline = time.monotonic() + 200  # bounded, whatever happens
        client = httpx.Client(base_url=self.url, auth=self.auth, timeout=10.0)
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                doc, kinds = self.body(rng)
                try:
                    r = client.post(path, json=doc)
                except httpx.TransportError:
                    with self.lock:
                        self.unanswered += 1
                    client.close()  # a fresh connection after the server comes back
                    client = httpx.Client(base_url=self.url, auth=self.auth, timeout=10.0)
                    time.sleep(0.05)
                    continue
                with self.lock:
                    if r.status_code == 202:
                        mid = r.json()["id"]
                        self.accepted[mid] = kinds
                        if len(kinds) > 1:
                            self.mms.add(mid)
                    else:
                        self.other[r.status_code] += 1
        finally:
            client.close()


def make_body(app_id: str, from_tn: str):  # type: ignore[no-untyped-def]
    def body(rng: random.Random) -> tuple[dict[str, Any], dict[str, str]]:
        roll = rng.random()
        if roll < 0.1:  # a group MMS: message-sending, then a final event, per recipient
            to = {handset(): "handset", handset(): "handset"}
        elif roll < 0.15:
            to = {reserved("0101"): "0101"}
        elif roll < 0.2:
            to = {reserved("0106"): "0106"}
        elif roll < 0.25:
            to = {reserved("0104"): "0104"}
        elif roll < 0.3:
            to = {reserved("0103"): "0103"}
        else:
            to = {handset(): "handset"}
        doc = {"applicationId": app_id, "from": from_tn, "to": list(to), "text": "crash test"}
        return doc, to

    return body


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_mid_stream_loses_nothing_and_tells_each_outcome_once(
    backend: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        node = Node(tmp_path, url, name=f"crash-{backend}", env=ENV).start()
        with running(node), node.client(acct) as c:
            msg = provision_messaging(c, acct.account_id, rx.url("/status"), CREDS)
            stream = Stream(
                node.base_url, acct.auth, acct.account_id, make_body(msg.app_id, msg.numbers[0])
            )
            # A receiver that takes its time keeps callbacks in flight and an outbox backlog.
            rx.delay = RECEIVER_DELAY
            stream.start()
            try:
                wait_until(lambda: stream.count >= KILL_AFTER, 60, 0.01, "accepted messages")
                # A callback that arrived in the last tenth of a second still has half of the
                # receiver's delay to run: the kill lands while it is being answered, however
                # late this thread is scheduled within that margin.
                wait_until(
                    lambda: rx.in_flight(time.time() - RECEIVER_DELAY / 2) > 0,
                    10,
                    0.005,
                    "callbacks being answered",
                )
                node.kill()
                t_kill = time.monotonic()
                t_kill_wall = time.time()
                at_kill = stream.count
                # Nothing writes to the database until the restart: this is the kill's moment.
                in_flight = unfinished(url)
                time.sleep(0.5)  # the clients see the dead server for a moment
                node.start()  # same port, same database
                wait_until(
                    lambda: stream.count >= at_kill + AFTER_RESTART, 60, 0.05, "sends after restart"
                )
            finally:
                stream.join()
            accepted = dict(stream.accepted)
            assert node.starts == 2
            assert not stream.other, f"answers other than 202: {dict(stream.other)}"
            # The kill hit work in flight: copies not final, events not delivered, timers due.
            assert in_flight["recipients"], "no recipient was in flight at the kill"
            assert in_flight["callbacks"], "no callback event was pending at the kill"
            assert in_flight["jobs"], "no job (carrier timer) was waiting at the kill"
            expected = {
                (mid, tn): kind for mid, kinds in accepted.items() for tn, kind in kinds.items()
            }

            # 1. Every accepted message exists and each recipient reaches the simulator's outcome.
            def all_final() -> dict[tuple[str, str], dict[str, Any]] | None:
                states = message_states(c, acct.account_id, list(accepted))
                done = all(
                    states.get(k, {}).get("messageStatus") in ("DELIVERED", "FAILED")
                    for k in expected
                )
                return states if done else None

            try:
                states = wait_until(all_final, FINAL_TIMEOUT, 0.5, "final states")
            except AssertionError:
                states = message_states(c, acct.account_id, list(accepted))
                missing = [k for k in expected if k not in states]
                stuck = Counter(
                    states[k]["messageStatus"] for k in expected if k in states
                ).most_common()
                raise AssertionError(
                    f"{len(missing)} accepted recipients missing from the message list "
                    f"(e.g. {missing[:3]}); statuses: {stuck}"
                ) from None
            t_final = time.monotonic()
            wrong = {
                k: (states[k]["messageStatus"], states[k]["errorCode"], kind)
                for k, kind in expected.items()
                if (states[k]["messageStatus"], states[k]["errorCode"]) != OUTCOME[kind][:2]
            }
            assert not wrong, f"unexpected outcomes: {list(wrong.items())[:5]}"

            # 2. The receiver acknowledged one final event per recipient (dedup by event id).
            def all_told() -> bool:
                finals = rx.finals_by_recipient("/status")
                return all(k in finals for k in expected)

            wait_until(all_told, 60, 0.5, "a final callback for every accepted recipient")
            t_told = time.monotonic()
            # Everything that could still arrive has arrived: every recipient final, no event
            # pending, no job left, no request being answered.
            wait_until(lambda: settled(url, rx), DELIVERY_LEASE + 30, 0.5, "the work to settle")
            final_rows = dict(
                ((mid, to), status)
                for mid, to, status in query(
                    url, "SELECT message_id, recipient, status FROM message_recipients"
                )
            )
            delivered_events = {
                r[0]
                for r in query(url, "SELECT id FROM callback_events WHERE status = 'delivered'")
            }
        finals = rx.finals_by_recipient("/status")
        twice = {k: ids for k, ids in finals.items() if len(ids) > 1}
        assert not twice, f"recipients told their outcome by two different events: {twice}"
        events = rx.acked_events("/status")
        for k, kind in expected.items():
            (eid,) = finals[k]
            ev = events[eid]
            assert ev["type"] == OUTCOME[kind][2], ev
            assert ev.get("errorCode", 0) == OUTCOME[kind][1], ev
            assert ev["message"]["id"] == k[0] and ev["to"] == k[1], ev

        # Final events for messages we never saw accepted: only the unanswered requests' ones.
        unknown = {mid for mid, _ in finals} - set(accepted)
        assert len(unknown) <= stream.unanswered, (unknown, stream.unanswered)

        # What the kill interrupted, accepted or not (a 202 lost with the connection): each such
        # recipient reached one final state, told by exactly one event; each pending event was
        # delivered after the restart.
        for key in in_flight["recipients"]:
            assert final_rows[key] in FINAL_STATUSES, (key, final_rows[key])
            assert len(finals.get(key, ())) == 1, (key, finals.get(key))
        acked = rx.acked_events("/status")
        not_delivered = in_flight["callbacks"] - delivered_events
        assert not not_delivered, f"events pending at the kill never delivered: {not_delivered}"
        assert in_flight["callbacks"] <= set(acked), in_flight["callbacks"] - set(acked)
        # Callbacks the receiver was answering when the sender died: sent again, acknowledged.
        cut = {h.event_id for h in rx.callbacks("/status") if h.peer_gone and h.start < t_kill_wall}
        assert cut, "no callback was being sent at the kill"
        assert cut <= set(acked), cut - set(acked)

        # Redeliveries keep the event id and the exact body.
        bodies: dict[str, set[bytes]] = {}
        for h in rx.callbacks("/status"):
            bodies.setdefault(h.event_id, set()).add(h.body)
        assert all(len(b) == 1 for b in bodies.values()), "an event was re-sent with another body"

        # An MMS recipient's message-sending was acknowledged before its final event was sent.
        first_final: dict[tuple[str, str], float] = {}
        sending_acked: dict[tuple[str, str], float] = {}
        for h in rx.callbacks("/status"):
            ev = h.events[0]
            key = (ev["message"]["id"], ev["to"])
            if ev["type"] in FINAL_TYPES:
                first_final[key] = min(first_final.get(key, h.start), h.start)
            elif ev["type"] == "message-sending" and h.acked:
                sending_acked[key] = min(sending_acked.get(key, h.end), h.end)
        for mid in stream.mms:
            for tn in accepted[mid]:
                assert (mid, tn) in sending_acked, f"no message-sending for {mid} {tn}"
                assert sending_acked[(mid, tn)] <= first_final[(mid, tn)], (mid, tn)

        redelivered = sum(1 for h in rx.callbacks("/status") if h.attempt > 0)
        print(
            f"{backend}: {len(accepted)} accepted ({at_kill} before the kill), "
            f"in flight at the kill: {len(in_flight['recipients'])} recipients, "
            f"{len(in_flight['callbacks'])} events, {len(in_flight['jobs'])} jobs; "
            f"{stream.unanswered} unanswered, {len(expected)} recipients, "
            f"{redelivered} redeliveries; kill at {t_kill - started:.1f}s, all final "
            f"{t_final - t_kill:.1f}s and all told {t_told - t_kill:.1f}s after the kill; "
            f"{time.monotonic() - started:.1f}s in all"
        )
