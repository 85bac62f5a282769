"""`openband serve --delivery-processes N`: callbacks leave from processes of their own, which the
server keeps running and takes down with it.

Black-box, on SQLite: the delivery processes are found as the server's children in /proc, and the
receiver tells whose connection each callback came on (the socket's owner, as test_two_nodes.py
does). What must hold:
- every callback is POSTed by a delivery process, none by the server process;
- a delivery process killed with SIGKILL is started again, and callbacks keep flowing;
- SIGTERM to the server stops its delivery processes; SIGKILL to the server takes them down too
  (PR_SET_PDEATHSIG), so no orphan keeps delivering for a server that is gone.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cluster import (
    Node,
    Receiver,
    create_account,
    database,
    handset,
    provision_messaging,
    running,
    wait_until,
)

pytestmark = [pytest.mark.slow]

CREDS = ("dp-user", "dp-pass")
ENV = {
    "OPENBAND_DELIVERY_PROCESSES": "1",
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "2",
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.1",
}


def delivery_children(pid: int) -> list[int]:
    """The live delivery processes started by server process `pid`."""
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            try:
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
                state = Path(f"/proc/{kid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if b"openband.delivery.process" in cmd and state != "Z":
                out.append(kid)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def delivered_to(rx: Receiver, message_id: str) -> list:  # type: ignore[type-arg]
    return [
        h
        for h in rx.callbacks("/cb")
        if h.acked
        and any(
            e.get("type") == "message-delivered" and e["message"]["id"] == message_id
            for e in h.events
        )
    ]


def test_callbacks_leave_from_a_delivery_process_kept_up_by_the_server(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url, Receiver() as rx:
        account = create_account(url)
        node = Node(tmp_path / "node", url, env=ENV)
        with running(node.start()):
            assert node.proc is not None
            first = wait_until(lambda: delivery_children(node.proc.pid), 30, what="a child")
            assert len(first) == 1
            rx.watch(node)
            rx.watch_pid(first[0], "delivery-1")
            with node.client(account) as c:
                m = provision_messaging(c, account.account_id, rx.url("/cb"), CREDS)
                sent = c.post(
                    f"/api/v2/users/{account.account_id}/messages", json=m.message(handset())
                )
                assert sent.status_code == 202, sent.text
                hits = wait_until(lambda: delivered_to(rx, sent.json()["id"]), 30)
                assert {h.sender for h in hits} == {"delivery-1"}

                # Killed: the server starts another; a message sent meanwhile is not lost.
                os.kill(first[0], signal.SIGKILL)
                during = c.post(
                    f"/api/v2/users/{account.account_id}/messages", json=m.message(handset())
                )
                assert during.status_code == 202, during.text
                second = wait_until(
                    lambda: [p for p in delivery_children(node.proc.pid) if p != first[0]],
                    30,
                    what="a new delivery process",
                )
                rx.watch_pid(second[0], "delivery-2")
                wait_until(lambda: delivered_to(rx, during.json()["id"]), 60)
                after = c.post(
                    f"/api/v2/users/{account.account_id}/messages", json=m.message(handset())
                )
                assert after.status_code == 202, after.text
                hits = wait_until(lambda: delivered_to(rx, after.json()["id"]), 30)
                assert {h.sender for h in hits} == {"delivery-2"}

                # /metrics on the server sums every process's counters: the accepts are the
                # server's, the callback attempts its delivery processes', the dead one's too.
                def counters() -> dict[str, float]:
                    text = httpx.get(f"{node.base_url}/metrics", timeout=10).text
                    return {
                        s.name + str(sorted(s.labels.items())): s.value
                        for f in text_string_to_metric_families(text)
                        for s in f.samples
                    }

                delivered = "openband_callback_attempts_total[('outcome', 'delivered')]"
                got = wait_until(lambda: (c := counters())[delivered] >= 3 and c, 30)
                assert got["openband_messages_accepted_total[]"] == 3
            # No callback of the whole test came from the server process itself.
            assert node.name not in {h.sender for h in rx.callbacks("/cb")}
        assert not node.alive
        wait_until(lambda: not alive(second[0]), 15, what="the delivery process to stop")


def test_delivery_processes_die_with_a_killed_server(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        node = Node(tmp_path / "node", url, env={**ENV, "OPENBAND_DELIVERY_PROCESSES": "2"})
        with running(node.start()):
            assert node.proc is not None
            kids = wait_until(
                lambda: (
                    len(delivery_children(node.proc.pid)) == 2 and delivery_children(node.proc.pid)
                ),
                30,
                what="two children",
            )
            node.kill()
            wait_until(lambda: not any(alive(k) for k in kids), 15, what="the orphans to exit")
