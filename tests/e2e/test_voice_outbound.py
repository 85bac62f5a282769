"""Voice v2 outbound calls end to end, over real HTTP to a real `openband serve` (issue 13, "Done
looks like" 2-4), on both backends.

- The seeds' flow ("Create a Call and Play Some Audio"): create a call to a handset that answers
  after 2 s; `answer` reaches answerUrl with the request's credentials; the sentence plays; the
  document ends (implicit Hangup); `disconnect` reaches disconnectUrl; the call's state shows its
  times and cause.
- Control of a live call: redirect (a `redirect` webhook), PUT …/bxml replacing what runs, a tag,
  state completed; list with filters and Link paging.
- Voicemail: SpeakSentence, PlayAudio of an MP3 served by the app (relative URL), Record with a
  relative recordingAvailableUrl; the handset speaks after the tone and hangs up;
  `recordingAvailable` arrives and the recording downloads as a real WAV holding the speech.
"""

from __future__ import annotations

import io
import json
import math
import re
import wave
from array import array
from pathlib import Path

import httpx
import pytest

from openband.audio.files import encode_mp3
from openband.audio.pcm import Audio
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

CREDS = ("answer-user", "answer-pass")
APP_CREDS = ("app-user", "app-pass")


def _events(rx: Receiver, path: str) -> list[dict]:
    return [json.loads(h.body) for h in rx.hits if h.path == path and h.body]


def _tone(seconds: float = 1.0, hz: int = 1000, rate: int = 8000) -> bytes:
    n = round(seconds * rate)
    pcm = array("h", (round(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(n)))
    return encode_mp3(Audio(pcm.tobytes(), rate, "tone"))


def _timeline(c: httpx.Client, call_id: str) -> list[dict]:
    r = c.get(f"/sim/v1/calls/{call_id}")
    assert r.status_code == 200, r.text
    return r.json()["timeline"]


def _create(c: httpx.Client, account: str, **body: object) -> httpx.Response:
    return c.post(f"/api/v2/accounts/{account}/calls", json=body)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_outbound_calls(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        node = Node(tmp_path, url, name=f"out-{backend}").start()
        with running(node), node.client(acct) as c:
            app = provision_voice(
                c, acct.account_id, rx.url("/initiate"), rx.url("/status"), APP_CREDS, quantity=2
            )
            calls = f"/api/v2/accounts/{acct.account_id}/calls"
            phone = handset()
            r = c.put(f"/sim/v1/handsets/{phone}", json={"call": {"answerAfterSeconds": 2}})
            assert r.status_code == 200, r.text

            # --- the seeds' flow ---------------------------------------------------------------
            rx.bxml["/answer"] = (
                "<Response><SpeakSentence>This is a test call from OpenBand</SpeakSentence>"
                "</Response>"
            )
            r = _create(
                c,
                acct.account_id,
                to=phone,
                **{"from": app.numbers[0]},
                applicationId=app.app_id,
                answerUrl=rx.url("/answer"),
                disconnectUrl=rx.url("/disconnect"),
                username=CREDS[0],
                password=CREDS[1],
                tag="first",
            )
            assert r.status_code == 201, r.text
            created = r.json()
            call_id = created["callId"]
            assert r.headers["Location"] == created["callUrl"]
            assert created["callUrl"].endswith(f"{calls}/{call_id}")
            assert created["password"] == "*****" and created["username"] == CREDS[0]
            assert created["callTimeout"] == 30 and created["callbackTimeout"] == 15
            assert created["tag"] == "first" and created["enqueuedTime"]

            wait_until(lambda: _events(rx, "/answer"), 20, 0.05, "answer")
            (hit,) = [h for h in rx.hits if h.path == "/answer"]
            assert hit.headers.get("Authorization") == basic(CREDS)  # the request's, not the app's
            answer = json.loads(hit.body)
            assert answer["eventType"] == "answer" and answer["callId"] == call_id
            assert answer["direction"] == "outbound" and answer["tag"] == "first"
            assert answer["from"] == app.numbers[0] and answer["to"] == phone
            assert answer["answerTime"] and answer["startTime"]

            wait_until(lambda: _events(rx, "/disconnect"), 20, 0.1, "disconnect")
            (disc,) = _events(rx, "/disconnect")
            assert disc["eventType"] == "disconnect" and disc["cause"] == "hangup"
            assert disc["tag"] == "first"
            state = c.get(f"{calls}/{call_id}").json()
            assert state["state"] == "disconnected" and state["disconnectCause"] == "hangup"
            assert state["startTime"] < state["answerTime"] < state["endTime"]
            # It rang two seconds (the handset's script) before it was answered.
            t = _timeline(c, call_id)
            heard = [e["detail"] for e in t if e["kind"] == "heard"]
            assert [h["text"] for h in heard] == ["This is a test call from OpenBand"]
            verbs = [e["detail"]["verb"] for e in t if e["kind"] == "verb"]
            assert verbs == ["SpeakSentence", "Hangup"]  # the implicit Hangup at the end

            # --- a live call: redirect, replace its BXML, tag, hang up --------------------------
            rx.bxml["/hold"] = '<Response><Pause duration="60"/></Response>'
            rx.bxml["/redirected"] = (
                '<Response><SpeakSentence>Redirected</SpeakSentence><Pause duration="60"/>'
                "</Response>"
            )
            r = _create(
                c,
                acct.account_id,
                to=phone,
                **{"from": app.numbers[1]},
                applicationId=app.app_id,
                answerUrl=rx.url("/hold"),
                disconnectUrl=rx.url("/disconnect2"),
            )
            assert r.status_code == 201, r.text
            live = r.json()["callId"]
            wait_until(
                lambda: c.get(f"{calls}/{live}").json()["state"] == "answered", 20, 0.1, "answer"
            )
            r = c.post(f"{calls}/{live}", json={"redirectUrl": rx.url("/redirected")})
            assert r.status_code == 200, r.text
            wait_until(lambda: _events(rx, "/redirected"), 20, 0.05, "redirect")
            (redirect,) = _events(rx, "/redirected")
            assert redirect["eventType"] == "redirect" and redirect["callId"] == live
            wait_until(
                lambda: any(
                    e["kind"] == "heard" and e["detail"]["text"] == "Redirected"
                    for e in _timeline(c, live)
                ),
                20,
                0.1,
                "the redirected document runs",
            )
            r = c.put(
                f"{calls}/{live}/bxml",
                content=b'<?xml version="1.0"?><Bxml><SpeakSentence>Replaced</SpeakSentence>'
                b'<Pause duration="60"/></Bxml>',
                headers={"Content-Type": "application/xml"},
            )
            assert r.status_code == 204, r.text
            wait_until(
                lambda: any(
                    e["kind"] == "heard" and e["detail"]["text"] == "Replaced"
                    for e in _timeline(c, live)
                ),
                20,
                0.1,
                "the replaced document runs",
            )
            # <Response> is a webhook's answer, not a PUT's body: refused, and the call runs on.
            r = c.put(
                f"{calls}/{live}/bxml",
                content=b"<Response><Hangup/></Response>",
                headers={"Content-Type": "application/xml"},
            )
            assert r.status_code == 400, r.text
            assert r.json()["type"] == "validation"
            assert c.post(f"{calls}/{live}", json={"tag": "tagged"}).status_code == 200
            assert c.post(f"{calls}/{live}", json={"state": "completed"}).status_code == 200
            wait_until(lambda: _events(rx, "/disconnect2"), 20, 0.1, "disconnect")
            (disc,) = _events(rx, "/disconnect2")
            assert disc["cause"] == "hangup" and disc["tag"] == "tagged"
            # An ended call cannot be changed.
            r = c.post(f"{calls}/{live}", json={"redirectUrl": rx.url("/redirected")})
            assert r.status_code == 409 and r.json()["type"] == "validation", r.text

            # --- list: filters and Link paging -------------------------------------------------
            everything = c.get(calls, params={"to": phone})
            assert everything.status_code == 200
            assert {x["callId"] for x in everything.json()} == {call_id, live}
            mine = c.get(calls, params={"from": app.numbers[1]}).json()
            assert [x["callId"] for x in mine] == [live]
            page = c.get(calls, params={"to": phone, "pageSize": 1})
            assert len(page.json()) == 1
            m = re.match(r'<([^>]+)>; rel="next"', page.headers["Link"])
            assert m, page.headers
            rest = c.get(m.group(1))
            assert len(rest.json()) == 1 and "Link" not in rest.headers
            assert {page.json()[0]["callId"], rest.json()[0]["callId"]} == {call_id, live}
            assert c.get(calls, params={"disconnectCause": "busy"}).json() == []
            r = c.get(calls, params={"disconnectCause": "bored"})
            assert r.status_code == 400 and r.json()["type"] == "validation"


VOICEMAIL = (
    "<Response>"
    "<SpeakSentence>Please leave a message after the tone</SpeakSentence>"
    "<PlayAudio>/tone.mp3</PlayAudio>"
    '<Record recordingAvailableUrl="/rec" maxDuration="30"/>'
    "</Response>"
)
MESSAGE = "Hi, this is Sam. Please call me back about the invoice."


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_voicemail(backend: str, tmp_path: Path) -> None:
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        acct = create_account(url)
        node = Node(tmp_path, url, name=f"vm-{backend}").start()
        with running(node), node.client(acct) as c:
            app = provision_voice(c, acct.account_id, rx.url("/initiate"), None, APP_CREDS)
            calls = f"/api/v2/accounts/{acct.account_id}/calls"
            rx.serve_file("/tone.mp3", _tone(), "audio/mpeg")
            rx.bxml["/vm/answer"] = VOICEMAIL
            phone = handset()
            script = {
                "answerAfterSeconds": 1,
                "actions": [
                    {"on": "heard", "phrase": "tone.mp3", "afterSeconds": 1.5, "say": MESSAGE},
                    {"on": "heard", "phrase": "tone.mp3", "afterSeconds": 9, "hangup": True},
                ],
            }
            assert c.put(f"/sim/v1/handsets/{phone}", json={"call": script}).status_code == 200
            r = _create(
                c,
                acct.account_id,
                to=phone,
                **{"from": app.numbers[0]},
                applicationId=app.app_id,
                answerUrl=rx.url("/vm/answer"),
            )
            assert r.status_code == 201, r.text
            call_id = r.json()["callId"]

            # The MP3 was fetched from the URL relative to the answer URL ("/tone.mp3"), and played.
            wait_until(lambda: rx.fetches("/tone.mp3"), 20, 0.05, "the tone fetched")
            try:
                wait_until(lambda: _events(rx, "/rec"), 40, 0.2, "recordingAvailable")
            except AssertionError:
                raise AssertionError(json.dumps(_timeline(c, call_id), indent=1)) from None
            (available,) = _events(rx, "/rec")
            assert available["eventType"] == "recordingAvailable"
            assert available["callId"] == call_id and available["status"] == "complete"
            assert available["fileFormat"] == "wav" and available["channels"] == 1
            (hit,) = [h for h in rx.hits if h.path == "/rec"]
            # The create request had no username/password; the application's CallbackCreds are
            # for its inbound calls' webhooks (bandwidth-api.md §3.3), so none is sent.
            assert "Authorization" not in hit.headers

            t = _timeline(c, call_id)
            files = [
                e["detail"] for e in t if e["kind"] == "heard" and e["detail"]["kind"] == "file"
            ]
            assert files and files[0]["url"] == rx.url("/tone.mp3")
            assert files[0]["seconds"] == pytest.approx(1.0, abs=0.25)
            state = c.get(f"{calls}/{call_id}").json()
            assert state["state"] == "disconnected" and state["disconnectCause"] == "hangup"

            listed = c.get(f"{calls}/{call_id}/recordings").json()
            assert [x["recordingId"] for x in listed] == [available["recordingId"]]
            meta = listed[0]
            assert meta["mediaUrl"] == available["mediaUrl"]
            assert meta["duration"].startswith("PT") and meta["duration"].endswith("S")
            media = c.get(meta["mediaUrl"])
            assert media.status_code == 200 and media.headers["content-type"] == "audio/vnd.wave"
            with wave.open(io.BytesIO(media.content)) as w:
                seconds = w.getnframes() / w.getframerate()
                samples = array("h", w.readframes(w.getnframes()))
            # The recording runs from the end of the tone to the hang-up (~9 s after the tone
            # began); the handset's sentence is in it, as sound, from about 0.5 s in.
            assert 5 < seconds < 10, seconds
            loud = [
                i for i in range(0, len(samples), 80) if max(map(abs, samples[i : i + 80])) > 500
            ]
            assert loud, "the recording is silent"
            assert 0.2 < loud[0] / 8000 < 1.5, loud[0] / 8000
            everywhere = c.get(f"/api/v2/accounts/{acct.account_id}/recordings").json()
            assert [x["recordingId"] for x in everywhere] == [meta["recordingId"]]
            # Deleting the recording removes it and its media.
            assert (
                c.delete(f"{calls}/{call_id}/recordings/{meta['recordingId']}").status_code == 204
            )
            assert c.get(meta["mediaUrl"]).status_code == 404
            assert c.get(f"{calls}/{call_id}/recordings").json() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_apps_call_each_other(backend: str, tmp_path: Path) -> None:
    """On-net: app A calls app B's number. B's application gets `initiate` and answers with a
    Gather; answering B's leg answers A's, so A gets `answer` and sends a digit with SendDtmf;
    B's Gather hears it; B hangs up and both legs end, each app seeing its own leg."""
    with database(backend, tmp_path / "db") as url, Receiver() as rx:
        alice, bob = create_account(url), create_account(url)
        node = Node(tmp_path, url, name=f"onnet-{backend}").start()
        with running(node), node.client(alice) as ca, node.client(bob) as cb:
            a = provision_voice(ca, alice.account_id, rx.url("/a/initiate"), None, None)
            b = provision_voice(
                cb, bob.account_id, rx.url("/b/initiate"), rx.url("/b/status"), APP_CREDS
            )
            rx.bxml["/b/initiate"] = (
                '<Response><Gather gatherUrl="/b/gather" maxDigits="2" interDigitTimeout="3">'
                "<SpeakSentence>Enter your code</SpeakSentence></Gather></Response>"
            )
            rx.bxml["/b/gather"] = "<Response><Hangup/></Response>"
            rx.bxml["/a/answer"] = (
                '<Response><Pause duration="1"/><SendDtmf>4w2</SendDtmf>'
                '<Pause duration="30"/></Response>'
            )
            r = _create(
                ca,
                alice.account_id,
                to=b.numbers[0],
                **{"from": a.numbers[0]},
                applicationId=a.app_id,
                answerUrl=rx.url("/a/answer"),
                disconnectUrl=rx.url("/a/disconnect"),
            )
            assert r.status_code == 201, r.text
            a_leg = r.json()["callId"]

            wait_until(lambda: _events(rx, "/b/gather"), 30, 0.1, "B's gather")
            (init,) = _events(rx, "/b/initiate")
            b_leg = init["callId"]
            assert b_leg != a_leg  # each app has its own leg, with its own id
            assert (init["from"], init["to"]) == (a.numbers[0], b.numbers[0])
            assert init["accountId"] == bob.account_id and init["direction"] == "inbound"
            (gather,) = _events(rx, "/b/gather")
            assert gather["digits"] == "42" and gather["callId"] == b_leg

            wait_until(lambda: _events(rx, "/a/disconnect"), 30, 0.1, "A's disconnect")
            wait_until(lambda: _events(rx, "/b/status"), 30, 0.1, "B's disconnect")
            (a_end,) = _events(rx, "/a/disconnect")
            assert a_end["callId"] == a_leg and a_end["cause"] == "hangup"
            (answer,) = _events(rx, "/a/answer")
            assert answer["callId"] == a_leg and answer["direction"] == "outbound"
            # Each account sees only its own leg.
            a_calls = ca.get(f"/api/v2/accounts/{alice.account_id}/calls").json()
            b_calls = cb.get(f"/api/v2/accounts/{bob.account_id}/calls").json()
            assert [x["callId"] for x in a_calls] == [a_leg]
            assert [x["callId"] for x in b_calls] == [b_leg]
            assert cb.get(f"/api/v2/accounts/{bob.account_id}/calls/{a_leg}").status_code == 404
            # What B's leg heard from A is the tones of the digits A sent.
            sent = [e for e in _timeline(ca, a_leg) if e["kind"] == "sent-dtmf"]
            assert [e["detail"]["digits"] for e in sent] == ["4w2"]
