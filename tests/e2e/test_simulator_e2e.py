"""The simulated network end to end, over HTTP to a live `openband serve` on each backend: apps
text handsets, handsets text apps, two accounts text each other on-net, and a handset's delay is
a durable job that outlives a restart of the server.

Everything goes through the public APIs: accounts with `openband accounts create`, provisioning
through the Dashboard (numbers ordered, not inserted), messages through Messaging v2, handsets
through /sim/v1, callbacks at a real receiver on 127.0.0.1. (The in-process tests of /sim/v1's
rules are tests/api/test_sim.py.)
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cluster import (
    Account,
    Messaging,
    Node,
    Receiver,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    query,
    reserved,
    wait_until,
)

SIM = "/sim/v1"
ENV = {
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "2",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.2",
    "OPENBAND_CALLBACK_RETRY_MAX_SECONDS": "1",
}


@dataclass
class Sim:
    """One live server per backend, two accounts on it, and the callback receiver."""

    backend: str
    node: Node
    database_url: str
    rx: Receiver
    alice: Account
    bob: Account

    def client(self, acct: Account) -> httpx.Client:
        return self.node.client(acct)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def sim(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    workdir: Path = tmp_path_factory.mktemp(f"sim-{request.param}")
    with database(request.param, workdir / "db") as url, Receiver() as rx:
        alice, bob = create_account(url), create_account(url)
        node = Node(workdir, url, name=f"sim-{request.param}", env=ENV).start()
        try:
            yield Sim(request.param, node, url, rx, alice, bob)
        finally:
            node.stop()
            if request.session.testsfailed:
                print(f"\n----- {node.name} log tail -----\n{node.log_tail()}")


@dataclass
class App:
    """A messaging application of one account, its two numbers and its receiver paths."""

    sim: Sim
    acct: Account
    msg: Messaging
    tag: str

    @property
    def numbers(self) -> list[str]:
        return self.msg.numbers

    def send(self, to: str | list[str], text: str = "hi", **extra: Any) -> dict[str, Any]:
        with self.sim.client(self.acct) as c:
            r = c.post(
                f"/api/v2/users/{self.acct.account_id}/messages",
                json=self.msg.message(to, text, **extra),
            )
        assert r.status_code == 202, r.text
        return r.json()  # type: ignore[no-any-return]

    def state(self, message_id: str, to: str) -> dict[str, Any]:
        with self.sim.client(self.acct) as c:
            return message_states(c, self.acct.account_id, [message_id]).get((message_id, to), {})

    def wait_status(
        self, message_id: str, to: str, status: str, timeout: float = 20
    ) -> dict[str, Any]:
        return wait_until(  # type: ignore[no-any-return]
            lambda: (s := self.state(message_id, to)).get("messageStatus") == status and s,
            timeout,
            0.1,
            f"{message_id} to {to} {status}",
        )

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Acknowledged events at this app's `status` or `in` path, in arrival order."""
        return [h.events[0] for h in self.sim.rx.callbacks(f"/{self.tag}/{kind}") if h.acked]

    def wait_events(self, kind: str, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        return wait_until(  # type: ignore[no-any-return]
            lambda: len(e := self.events(kind)) >= n and e, timeout, 0.1, f"{n} {kind} events"
        )

    def handset_log(self, number: str) -> list[dict[str, Any]]:
        with self.sim.client(self.acct) as c:
            r = c.get(f"{SIM}/handsets/{number}/messages")
        assert r.status_code == 200, r.text
        return r.json()["messages"]  # type: ignore[no-any-return]

    def script(self, number: str, behaviour: dict[str, Any]) -> None:
        with self.sim.client(self.acct) as c:
            r = c.put(f"{SIM}/handsets/{number}", json=behaviour)
        assert r.status_code == 200, r.text


def make_app(sim: Sim, acct: Account) -> App:
    tag = secrets.token_hex(4)
    with sim.client(acct) as c:
        msg = provision_messaging(
            c,
            acct.account_id,
            sim.rx.url(f"/{tag}/status"),
            None,
            inbound_url=sim.rx.url(f"/{tag}/in"),
            quantity=2,
            name=f"sim {tag}",
        )
    return App(sim, acct, msg, tag)


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_app_texts_a_handset(sim: Sim) -> None:
    app = make_app(sim, sim.alice)
    h = handset()
    mid = app.send(h, "hello handset")["id"]
    app.wait_status(mid, h, "DELIVERED")
    (row,) = app.handset_log(h)
    assert row["direction"] == "received" and row["messageId"] == mid
    assert row["text"] == "hello handset" and row["from"] == app.numbers[0]
    (delivered,) = [e for e in app.wait_events("status", 1) if e["type"] == "message-delivered"]
    assert delivered["to"] == h and delivered["message"]["id"] == mid


@pytest.mark.parametrize(("line", "code"), [("0101", 4720), ("0102", 4775), ("0106", 4432)])
def test_reserved_numbers_fail(sim: Sim, line: str, code: int) -> None:
    app = make_app(sim, sim.alice)
    h = reserved(line)
    mid = app.send(h)["id"]
    assert app.wait_status(mid, h, "FAILED")["errorCode"] == code
    (failed,) = [e for e in app.wait_events("status", 1) if e["type"] == "message-failed"]
    assert failed["errorCode"] == code and failed["to"] == h


def test_scripted_handset_and_auto_reply(sim: Sim) -> None:
    app = make_app(sim, sim.alice)
    h = handset()
    app.script(h, {"autoReply": "got: {text}"})
    mid = app.send(h, "ping")["id"]
    app.wait_status(mid, h, "DELIVERED")
    (event,) = app.wait_events("in", 1)
    assert event["type"] == "message-received" and event["message"]["text"] == "got: ping"
    assert event["message"]["from"] == h and event["to"] == app.numbers[0]
    assert [m["direction"] for m in app.handset_log(h)] == ["received", "sent"]


def test_handset_texts_the_app(sim: Sim) -> None:
    app = make_app(sim, sim.alice)
    h = handset()
    with sim.client(sim.alice) as c:
        r = c.post(f"{SIM}/messages", json={"from": h, "to": app.numbers[1], "text": "hi app"})
    assert r.status_code == 202, r.text
    (mid,) = r.json()["messageIds"]
    (event,) = app.wait_events("in", 1)
    assert event["type"] == "message-received" and event["to"] == app.numbers[1]
    assert event["message"]["id"] == mid and event["message"]["from"] == h
    assert event["message"]["text"] == "hi app" and event["message"]["direction"] == "in"


def test_two_accounts_text_on_net(sim: Sim) -> None:
    a, b = make_app(sim, sim.alice), make_app(sim, sim.bob)
    to = b.numbers[0]
    mid = a.send(to, "hello neighbour")["id"]
    a.wait_status(mid, to, "DELIVERED")
    (event,) = b.wait_events("in", 1)
    assert event["message"]["from"] == a.numbers[0]
    assert event["message"]["text"] == "hello neighbour"
    # On-net traffic never shows up as a handset's.
    rows = query(
        sim.database_url, "SELECT id FROM sim_handset_messages WHERE message_id = ?", (mid,)
    )
    assert rows == []


def test_group_reaches_on_net_once(sim: Sim) -> None:
    a, b = make_app(sim, sim.alice), make_app(sim, sim.bob)
    h = handset()
    mid = a.send([b.numbers[0], h, b.numbers[1]], "group hello")["id"]
    for to in (b.numbers[0], h, b.numbers[1]):
        a.wait_status(mid, to, "DELIVERED")
    events = b.wait_events("in", 2)
    assert sorted(e["to"] for e in events) == sorted(b.numbers)  # one copy per platform number
    assert all(set(e["message"]["to"]) == {b.numbers[0], h, b.numbers[1]} for e in events)
    assert [m["text"] for m in a.handset_log(h)] == ["group hello"]
    # Every inbound event there is has arrived: nothing is pending, so no third copy will come.
    wait_until(
        lambda: (
            not query(sim.database_url, "SELECT id FROM callback_events WHERE status = 'pending'")
        ),
        20,
        0.1,
        "no pending callback",
    )
    assert len(b.events("in")) == 2


DELAY = 10.0  # long enough to stop and start the server inside it


def test_delays_are_durable_jobs_that_outlive_a_restart(sim: Sim) -> None:
    """A handset's delay is a job in the database: the server is restarted while it is pending,
    and the delayed outcome still happens after the restart, no earlier than its delay."""
    app = make_app(sim, sim.alice)
    slow, failing = handset(), handset()
    app.script(slow, {"delaySeconds": DELAY})
    app.script(failing, {"mode": "fail", "errorCode": 4750, "delaySeconds": DELAY})
    m1, m2 = app.send(slow, "later"), app.send(failing, "doomed")
    for m, to in ((m1, slow), (m2, failing)):
        app.wait_status(m["id"], to, "SENT", timeout=DELAY / 2)  # waiting on the delay
    assert app.handset_log(slow) == []
    jobs = query(sim.database_url, "SELECT kind FROM jobs")
    assert [k for (k,) in jobs].count("carrier_timer") >= 2, jobs

    sim.node.stop()  # a restart while both delays are pending
    stopped_at = datetime.now().astimezone()
    sim.node.start()
    assert (stopped_at - _when(m1["time"])).total_seconds() < DELAY, "restarted too late"

    app.wait_status(m1["id"], slow, "DELIVERED", timeout=DELAY + 20)
    failed = app.wait_status(m2["id"], failing, "FAILED", timeout=20)
    assert failed["errorCode"] == 4750
    (row,) = app.handset_log(slow)
    assert row["text"] == "later" and row["messageId"] == m1["id"]
    assert app.handset_log(failing) == []
    # Each outcome came after the restart, and no earlier than its delay after the send.
    events = {
        (e["type"], e["to"]): e
        for e in app.wait_events("status", 2)
        if e["type"] in ("message-delivered", "message-failed")
    }
    outcomes = {
        "handset log": (_when(row["time"]), m1),
        "delivered event": (_when(events[("message-delivered", slow)]["time"]), m1),
        "failed event": (_when(events[("message-failed", failing)]["time"]), m2),
    }
    for what, (at, sent) in outcomes.items():
        assert at >= stopped_at, (what, at, stopped_at)
        assert (at - _when(sent["time"])).total_seconds() >= DELAY, (what, at, sent["time"])
