"""Voice v2 end to end, over real HTTP to a real `openband serve` (issue 13, "Done looks like").

1. Inbound IVR: a handset calls a number whose location links a Voice-V2 application. The app's
   server gets `initiate` (the application's Basic auth), answers SpeakSentence + Gather with a
   nested prompt; the handset hears both sentences as real audio, presses 1; the server gets
   `gather` with digits "1", answers Hangup; `disconnect` reaches the status URL. The simulator's
   timeline shows each webhook with its BXML, the verbs, what was heard (WAV URLs), the digit and
   the end.
"""

from __future__ import annotations

import io
import json
import time
import wave
from pathlib import Path

import pytest

from tests.support.cluster import (
    Node,
    Receiver,
    basic,
    create_account,
    database,
    handset,
    provision_voice,
    running,
    wait_until,
)

CREDS = ("voice-user", "voice-pass")

IVR = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<SpeakSentence voice="susan">Hello</SpeakSentence>'
    '<Gather maxDigits="1" gatherUrl="/gather"><SpeakSentence>Press 1</SpeakSentence></Gather>'
    "</Response>"
)


def _events(rx: Receiver, path: str) -> list[dict]:
    return [json.loads(h.body) for h in rx.hits if h.path == path and h.body]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_inbound_ivr(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        node = Node(tmp_path, url, name=f"ivr-{backend}").start()
        with running(node), node.client(acct) as c:
            app = provision_voice(c, acct.account_id, rx.url("/initiate"), rx.url("/status"), CREDS)
            rx.bxml["/initiate"] = IVR
            rx.bxml["/gather"] = "<Response><Hangup/></Response>"
            phone = handset()
            r = c.post("/sim/v1/calls", json={"from": phone, "to": app.numbers[0]})
            assert r.status_code == 201, r.text
            call_id = r.json()["callId"]
            assert call_id.startswith("c-")

            # initiate, with the application's credentials and Bandwidth's fields.
            wait_until(lambda: _events(rx, "/initiate"), 20, 0.05, "initiate")
            (init_hit,) = [h for h in rx.hits if h.path == "/initiate"]
            assert init_hit.headers.get("Authorization") == basic(CREDS)
            init = json.loads(init_hit.body)
            assert init["eventType"] == "initiate"
            assert init["callId"] == call_id
            assert init["from"] == phone and init["to"] == app.numbers[0]
            assert init["direction"] == "inbound"
            assert init["applicationId"] == app.app_id

            # The handset hears "Hello" then the prompt; then presses 1.
            def heard() -> list[dict]:
                t = c.get(f"/sim/v1/calls/{call_id}").json()["timeline"]
                return [e for e in t if e["kind"] == "heard"]

            wait_until(lambda: len(heard()) >= 2, 20, 0.1, "both sentences played")
            r = c.post(f"/sim/v1/calls/{call_id}/dtmf", json={"digits": "1"})
            assert r.status_code == 204, (r.text, c.get(f"/sim/v1/calls/{call_id}").json())

            wait_until(lambda: _events(rx, "/gather"), 20, 0.05, "gather")
            (gather,) = _events(rx, "/gather")
            assert gather["eventType"] == "gather"
            assert gather["digits"] == "1"
            assert gather["callId"] == call_id

            wait_until(lambda: _events(rx, "/status"), 20, 0.1, "disconnect")
            (disc,) = _events(rx, "/status")
            assert disc["eventType"] == "disconnect"
            assert disc["cause"] == "hangup"
            assert disc["callId"] == call_id

            state = c.get(f"/api/v2/accounts/{acct.account_id}/calls/{call_id}").json()
            assert state["state"] == "disconnected"
            assert state["disconnectCause"] == "hangup"
            assert state["direction"] == "inbound"
            assert state["answerTime"] and state["endTime"]

            t = c.get(f"/sim/v1/calls/{call_id}").json()["timeline"]
            kinds = [e["kind"] for e in t]
            assert "webhook" in kinds and "verb" in kinds and "end" in kinds
            hooks = [e["detail"] for e in t if e["kind"] == "webhook" and "bxml" in e["detail"]]
            assert [h["eventType"] for h in hooks] == ["initiate", "gather"]
            assert "<Gather" in hooks[0]["bxml"]
            sentences = [e["detail"] for e in t if e["kind"] == "heard"]
            assert [s["text"] for s in sentences] == ["Hello", "Press 1"]
            assert sentences[0]["voice"] == "susan"
            assert any(e["kind"] == "dtmf" and e["detail"]["digit"] == "1" for e in t)
            # What the handset heard is real audio, served as WAV.
            wav = c.get(sentences[1]["url"])
            assert wav.status_code == 200
            with wave.open(io.BytesIO(wav.content)) as w:
                frames = w.readframes(w.getnframes())
                assert w.getnframes() / w.getframerate() > 0.3
            assert any(b != 0 for b in frames[:4000])
            assert time.time() > 0
