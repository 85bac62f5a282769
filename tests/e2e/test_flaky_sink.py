"""Callbacks to receivers that misbehave: every event still arrives, unchanged, in order.

One `openband serve` per backend (SQLite, PostgreSQL) with a 1 s callback timeout and a short
backoff. Each scenario provisions its own application through the Dashboard API, pointing at its
own paths of a local receiver that answers the first attempts of EVERY event badly:
- 500s: "500", "500", then 200;
- a timeout: the first attempt gets no answer for 3 s (the sender must give up after 1 s);
- resets: the connection is closed without an answer, twice, then 200.
The traffic: SMS and MMS to virtual handsets, an SMS to a reserved failing number, and two
messages from handsets to the application's number (message-received). Checked for each event:
it is acknowledged in the end; every attempt carries the same X-OpenBand-Event-Id and the same
bytes; the bad answers came first (it was retried, not lucky); Basic auth from the application's
Outbound/InboundCallbackCreds; User-Agent BandwidthAPI/v2; a JSON array body; an MMS's
message-sending is acknowledged before its message-delivered is first sent.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.support.cluster import (
    Account,
    Hit,
    Node,
    Receiver,
    base_env,
    basic,
    create_account,
    database,
    handset,
    message_states,
    provision_messaging,
    reserved,
    wait_settled,
    wait_until,
)
from tests.support.live import openband_exe

ENV = {
    "OPENBAND_CALLBACK_TIMEOUT_SECONDS": "1",
    # Backoff of at least 0.15 s: the receiver notices a hang-up well before the next attempt.
    "OPENBAND_CALLBACK_RETRY_BASE_SECONDS": "0.3",
    "OPENBAND_CALLBACK_RETRY_MAX_SECONDS": "1",
}
TIMEOUT = 1.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))

# scenario -> (answers to the n-th attempt of each event, how many of them fail)
SCENARIOS = {
    "500s": (["500", "500", "200"], 2),
    "timeout": (["sleep:3", "200"], 1),
    "resets": (["reset", "reset", "200"], 2),
}


@dataclass
class Server:
    backend: str
    node: Node
    rx: Receiver
    account: Account


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(f"flaky-{request.param}")
    with database(request.param, workdir / "db") as url, Receiver() as rx:
        account = create_account(url)
        node = Node(workdir, url, name=f"flaky-{request.param}", env=ENV).start()
        try:
            yield Server(request.param, node, rx, account)
        finally:
            node.stop()
            if request.session.testsfailed:
                print(f"\n----- {node.name} log tail -----\n{node.log_tail()}")


# One attempt in `openband callbacks list`: time, HTTP status (--- for none), latency, error.
ATTEMPT = re.compile(r"^(\S+)\s+(\d{3}|---)\s+\d+ ms(?:\s+(.*))?$")


def table_rows(text: str) -> list[dict[str, str]]:
    """The rows of a table the CLI printed (rich, one line between rows), column -> text; a
    cell that spans several lines keeps them, one per line."""
    header: list[str] = []
    rows: list[dict[str, str]] = []
    cells: list[list[str]] | None = None
    for line in text.splitlines():
        if "┃" in line and not header:
            header = [c.strip() for c in line.strip().strip("┃").split("┃")]
        elif "│" in line and header:
            parts = [c.strip() for c in line.strip().strip("│").split("│")]
            assert len(parts) == len(header), line
            cells = cells or [[] for _ in header]
            for acc, part in zip(cells, parts, strict=True):
                if part:
                    acc.append(part)
        elif line.lstrip().startswith(("├", "└")) and cells is not None:
            rows.append({h: "\n".join(acc) for h, acc in zip(header, cells, strict=True)})
            cells = None
    assert header, f"no table in:\n{text}"
    return rows


def event_key(ev: dict[str, Any]) -> tuple[str, str, str]:
    return (ev["type"], ev["message"]["id"], ev["to"])


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_event_survives_a_flaky_receiver(server: Server, scenario: str) -> None:
    answers, failing = SCENARIOS[scenario]
    rx, acct = server.rx, server.account
    out_path, in_path = f"/{scenario}/status", f"/{scenario}/inbound"
    rx.script(out_path, answers)
    rx.script(in_path, answers)
    out_creds = (f"out-{scenario}", "s3cret:with colon")
    in_creds = (f"in-{scenario}", "other-secret")
    media_url = rx.serve_file(f"/{scenario}/cat.png", PNG, "image/png")

    with server.node.client(acct) as c:
        msg = provision_messaging(
            c,
            acct.account_id,
            rx.url(out_path),
            out_creds,
            inbound_url=rx.url(in_path),
            inbound_creds=in_creds,
        )
        me = msg.numbers[0]
        sent: dict[str, tuple[str, str]] = {}  # message id -> (recipient, expected final type)
        mms: set[str] = set()
        plan = [
            (handset(), None, "message-delivered"),
            (handset(), None, "message-delivered"),
            (handset(), [media_url], "message-delivered"),
            (reserved("0101"), None, "message-failed"),
        ]
        for to, media, final in plan:
            extra = {"media": media} if media else {}
            r = c.post(
                f"/api/v2/users/{acct.account_id}/messages",
                json=msg.message(to, f"{scenario} test", tag=scenario, **extra),
            )
            assert r.status_code == 202, r.text
            sent[r.json()["id"]] = (to, final)
            if media:
                mms.add(r.json()["id"])
        inbound: list[str] = []
        for _ in range(2):
            r = c.post(
                "/sim/v1/messages",
                json={"from": handset(), "to": me, "text": f"hi from a handset ({scenario})"},
            )
            assert r.status_code == 202, r.text
            inbound += r.json()["messageIds"]

        expected: set[tuple[str, str, str]] = set()
        for mid, (to, final) in sent.items():
            expected.add((final, mid, to))
            if mid in mms:
                expected.add(("message-sending", mid, to))
        for mid in inbound:
            expected.add(("message-received", mid, me))

        def acked() -> set[tuple[str, str, str]] | None:
            got = {
                event_key(h.events[0])
                for p in (out_path, in_path)
                for h in rx.callbacks(p)
                if h.acked
            }
            return got if expected <= got else None

        # Each event needs `failing` bad attempts with backoff first: a few seconds at most.
        wait_until(acked, 45, 0.2, f"every event acknowledged ({scenario})")
        # Nothing more can arrive: every recipient final, no callback pending, no job left, and
        # no request being answered.
        wait_settled(server.node.database_url, rx)

        states = message_states(c, acct.account_id, list(sent))
        for mid, (to, final) in sent.items():
            want = "DELIVERED" if final == "message-delivered" else "FAILED"
            assert states[(mid, to)]["messageStatus"] == want, states[(mid, to)]

    hits = {p: rx.callbacks(p) for p in (out_path, in_path)}
    all_hits = hits[out_path] + hits[in_path]
    assert all(h.method == "POST" for h in all_hits)
    by_event: dict[str, list[Hit]] = defaultdict(list)
    ids_of: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for h in all_hits:
        # Wire format: a JSON array of exactly one Bandwidth event, with Bandwidth's headers.
        doc = orjson.loads(h.body)
        assert isinstance(doc, list) and len(doc) == 1, h.body
        assert h.headers.get("User-Agent") == "BandwidthAPI/v2", h.headers
        assert h.headers.get("Content-Type", "").startswith("application/json"), h.headers
        creds = out_creds if h.path == out_path else in_creds
        assert h.headers.get("Authorization") == basic(creds), (h.path, h.headers)
        assert h.event_id, h.headers
        by_event[h.event_id].append(h)
        ids_of[event_key(doc[0])].add(h.event_id)
        if doc[0]["type"] == "message-received":
            assert h.path == in_path
        else:
            assert h.path == out_path
            assert doc[0]["message"].get("tag") == scenario, doc

    # Exactly the expected events, each under one stable id.
    assert set(ids_of) == expected, set(ids_of) ^ expected
    assert all(len(ids) == 1 for ids in ids_of.values()), ids_of
    for eid, attempts in by_event.items():
        attempts.sort(key=lambda h: h.attempt)
        assert len({h.body for h in attempts}) == 1, f"{eid}: the body changed between attempts"
        # Retried through every bad answer, then acknowledged once (no extra sends after a 2xx).
        assert [h.attempt for h in attempts] == list(range(failing + 1)), (eid, attempts)
        assert [h.acked for h in attempts] == [False] * failing + [True], (eid, attempts)
        assert sum(h.acked for h in attempts) == 1
        if scenario == "timeout":
            first = attempts[0]
            assert first.peer_gone, f"{eid}: the sender waited out the 3 s answer"
            assert first.end - first.start < TIMEOUT + 1.0, (eid, first.end - first.start)
        # Attempts never overlap: the next one starts after the previous one ended.
        for a, b in itertools.pairwise(attempts):
            assert b.start >= a.end - 0.05, (eid, a, b)
    assert not rx.overlaps, rx.overlaps

    # Order per message and recipient: message-sending acknowledged before message-delivered.
    for mid in mms:
        to = sent[mid][0]
        (sending_id,) = ids_of[("message-sending", mid, to)]
        (final_id,) = ids_of[(sent[mid][1], mid, to)]
        acked_at = max(h.end for h in by_event[sending_id] if h.acked)
        assert min(h.start for h in by_event[final_id]) >= acked_at - 0.05, mid

    if scenario == "500s":
        # The CLI shows each attempt with its HTTP status.
        mid = next(iter(mms))
        env = base_env({"COLUMNS": "400"})
        cmd = [openband_exe(), "callbacks", "list", "--message", mid]
        cmd += ["--database", server.node.database_url]
        r = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, cwd=os.getcwd()
        )
        assert r.returncode == 0, r.stderr
        rows = {row["type"]: row for row in table_rows(r.stdout)}
        # The MMS's two events, each with its attempts in order: 500, 500, then 200.
        assert set(rows) == {"message-sending", "message-delivered"}, r.stdout
        for row in rows.values():
            assert row["status"] == "delivered" and row["url"] == rx.url(out_path), row
            assert by_event[row["event id"]], row  # an event the receiver got
            statuses = [ATTEMPT.match(line) for line in row["attempts"].splitlines()]
            assert all(statuses), row["attempts"]
            assert [m.group(2) for m in statuses if m] == ["500", "500", "200"], row["attempts"]
            assert row["next retry"] == "", row
