"""Voice v2 against bad input, over real HTTP to a real `openband serve`, on both backends
(issue 13, "Bad input"): hostile or malformed BXML, webhook servers that fail, redirect loops,
SSRF targets, invalid numbers and other accounts' calls. Each call ends (or each request is
refused) with the documented cause, status and message, the error is visible on the call and in
its disconnect webhook, and a well-behaved call running beside them is unaffected.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import (
    Node,
    Receiver,
    create_account,
    database,
    handset,
    provision_voice,
    running,
    wait_until,
)

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<Response><SpeakSentence>&xxe;</SpeakSentence></Response>"
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Response><SpeakSentence>&b;'
    b"</SpeakSentence></Response>"
)
HUGE = b"<Response>" + b"<Pause duration='1'/>" * 4000 + b"</Response>"  # ~84 KB

# answer URL path -> (what it answers, the cause the call ends with, a word its message holds)
CASES: dict[str, tuple[str | bytes, str, str]] = {
    "/xxe": (XXE, "invalid-bxml", "DTD"),
    "/laughs": (LAUGHS, "invalid-bxml", "DTD"),
    "/huge": (HUGE, "invalid-bxml", "64"),
    "/unknown-verb": ("<Response><Dance/></Response>", "invalid-bxml", "Dance"),
    "/out-of-range": (
        '<Response><Gather maxDigits="500"/></Response>',
        "invalid-bxml",
        "maxDigits",
    ),
    "/wrong-place": ("<Response><Gather><Hangup/></Gather></Response>", "invalid-bxml", "Hangup"),
    "/not-xml": ("Thanks for calling!", "invalid-bxml", ""),
    "/wrong-root": ("<Bxml><Hangup/></Bxml>", "invalid-bxml", "Response"),
    "/loop": ('<Response><Redirect redirectUrl="/loop"/></Response>', "application-error", "loop"),
    "/multi-party": (
        "<Response><Transfer><PhoneNumber>+19195550000</PhoneNumber></Transfer></Response>",
        "application-error",
        "Transfer",
    ),
}
FAILING = {  # answer URL path -> Receiver script, cause
    "/server-error": ("500", "callback-error"),
    "/hangs": ("sleep:10", "callback-error"),  # callbackTimeout 1 s
    "/resets": ("reset", "callback-error"),
}
GOOD = '<Response><SpeakSentence>All is well</SpeakSentence><Pause duration="1"/></Response>'


def _events(rx: Receiver, path: str) -> list[dict]:
    return [json.loads(h.body) for h in rx.hits if h.path == path and h.body]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_hostile_answers_end_calls_with_their_cause(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        other = create_account(url)
        node = Node(tmp_path, url, name=f"hostile-{backend}").start()
        with running(node), node.client(acct) as c, node.client(other) as c2:
            app = provision_voice(c, acct.account_id, rx.url("/initiate"), None, None)
            theirs = provision_voice(c2, other.account_id, rx.url("/initiate"), None, None)
            calls = f"/api/v2/accounts/{acct.account_id}/calls"
            for path, (doc, _, _) in CASES.items():
                rx.bxml[path] = doc.decode() if isinstance(doc, bytes) else doc
            for path, (answer, _) in FAILING.items():
                rx.script(path, [answer])
            rx.bxml["/good"] = GOOD

            def create(answer: str, **extra: object) -> httpx.Response:
                body = {
                    "from": app.numbers[0],
                    "to": handset(),
                    "applicationId": app.app_id,
                    "answerUrl": answer,
                    "disconnectUrl": rx.url("/disconnect"),
                    "callbackTimeout": 1,
                    **extra,
                }
                return c.post(calls, json=body)

            made: dict[str, str] = {}
            good = create(rx.url("/good"))
            assert good.status_code == 201, good.text
            made["/good"] = good.json()["callId"]
            targets = [*CASES, *FAILING]
            for path in targets:
                r = create(rx.url(path))
                assert r.status_code == 201, (path, r.text)
                made[path] = r.json()["callId"]
            # A cloud metadata address: the SSRF policy refuses it on the fetch.
            r = create("http://169.254.169.254/latest/meta-data/")
            assert r.status_code == 201, r.text
            made["ssrf"] = r.json()["callId"]

            def ended() -> bool:
                return len(_events(rx, "/disconnect")) >= len(made)

            wait_until(ended, 90, 0.2, "every call's disconnect")
            by_call = {e["callId"]: e for e in _events(rx, "/disconnect")}
            expected = {p: (cause, word) for p, (_, cause, word) in CASES.items()}
            expected |= {p: (cause, "") for p, (_, cause) in FAILING.items()}
            expected["ssrf"] = ("callback-error", "")
            for path, (cause, word) in expected.items():
                call_id = made[path]
                state = c.get(f"{calls}/{call_id}").json()
                assert state["disconnectCause"] == cause, (path, state)
                assert state["errorMessage"], (path, state)
                assert word.lower() in state["errorMessage"].lower(), (path, state)
                hook = by_call[call_id]
                assert hook["cause"] == cause and hook["errorMessage"] == state["errorMessage"]
            # The well-behaved call beside them ran to its end.
            state = c.get(f"{calls}/{made['/good']}").json()
            assert state["disconnectCause"] == "hangup" and state["errorMessage"] is None
            heard = [
                e["detail"]["text"]
                for e in c.get(f"/sim/v1/calls/{made['/good']}").json()["timeline"]
                if e["kind"] == "heard"
            ]
            assert heard == ["All is well"]
            # Nothing read a local file into a sentence.
            assert not any(
                "root:" in json.dumps(e)
                for e in c.get(f"/sim/v1/calls/{made['/xxe']}").json()["timeline"]
            )
            # The loop stopped at the limit, not before and not much after.
            assert 5 <= len([h for h in rx.hits if h.path == "/loop"]) <= 12

            # --- requests refused at the door, writing nothing ------------------------------
            before = c.get(calls).json()

            def refused(r: httpx.Response, status: int, word: str) -> None:
                assert r.status_code == status, r.text
                body = r.json()
                assert set(body) == {"type", "description", "id"}, body
                assert word.lower() in body["description"].lower(), body

            base = {"applicationId": app.app_id, "answerUrl": rx.url("/good")}
            refused(
                c.post(calls, json={**base, "from": app.numbers[0], "to": "+1555"}), 400, "+1555"
            )
            refused(
                c.post(calls, json={**base, "from": "+19195550000", "to": handset()}), 400, "from"
            )
            refused(
                c.post(calls, json={**base, "from": theirs.numbers[0], "to": handset()}),
                400,
                "from",
            )
            refused(
                c.post(
                    calls,
                    json={**base, "applicationId": theirs.app_id, "from": app.numbers[0],
                          "to": handset()},
                ),
                400,
                "applicationId",
            )  # fmt: skip
            refused(
                c.post(calls, json={**base, "from": app.numbers[0], "to": handset(),
                                    "answerUrl": "ftp://example.com/x"}),
                400,
                "answerUrl",
            )  # fmt: skip
            refused(
                c.post(calls, json={**base, "from": app.numbers[0], "to": handset(),
                                    "callTimeout": 0}),
                400,
                "callTimeout",
            )  # fmt: skip
            r = c.post(calls, content=b"{" * 100_000, headers={"Content-Type": "application/json"})
            assert r.status_code in (400, 413), r.text
            assert c.get(calls).json() == before  # nothing was written

            # --- another account's call: not found, whatever the request ---------------------
            mine = made["/good"]
            other_calls = f"/api/v2/accounts/{other.account_id}/calls"
            refused(c2.get(f"{other_calls}/{mine}"), 404, "")
            refused(c2.post(f"{other_calls}/{mine}", json={"state": "completed"}), 404, "")
            refused(
                c2.put(
                    f"{other_calls}/{mine}/bxml",
                    content=b"<Bxml><Hangup/></Bxml>",
                    headers={"Content-Type": "application/xml"},
                ),
                404,
                "",
            )
            refused(c2.get(f"{other_calls}/{mine}/recordings"), 404, "")
            assert c2.get(f"/sim/v1/calls/{mine}").status_code == 404
            # …and their own account's URL with their credentials is refused too.
            refused(c2.get(f"{calls}/{mine}"), 403, "")
