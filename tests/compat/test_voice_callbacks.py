"""Every Voice v2 webhook a live `openband serve` sends, parsed by the official Python SDKs' own
callback models: PyPI bandwidth-sdk 23.3.1 (pydantic 2) and 15.1.0 (pydantic 1, the first
OpenAPI-generated release), each from its own venv (drivers/voice_callbacks_py.py).

Two calls produce them, through the real HTTP APIs and the simulator:
- inbound: a handset calls the application's number. `initiate` (CallInitiatedCallbackUrl)
  answers <StartGather dtmfUrl tag> and a prompt; the handset presses 5: `dtmf`; the call is
  redirected with POST …/calls/{id}: `redirect`, which answers a <Gather>; the handset presses
  4#: `gather` (digits "4", terminatingDigit "#"), which answers <Record recordCompleteUrl
  recordingAvailableUrl maxDuration="2">: `recordComplete` (answered <Hangup/>) and
  `recordingAvailable`; then `disconnect` at CallStatusCallbackUrl.
- outbound: POST …/calls to a handset answering after 1 s, with a tag: `answer`, then the
  document ends (implicit Hangup): `disconnect` at disconnectUrl.

For each body: the SDK's `Model.from_json` succeeds; pydantic 2's strict JSON validation passes;
the model knows every key sent (nothing lands in additional_properties, so a misspelt field
fails); every value survives parsing unchanged (datetimes as the same instant, enums by value);
and the fields that matter (eventType, callId, digit(s), tag, recordingId, mediaUrl, cause …)
are what the flow produced.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.compat.conftest import DRIVERS, HERE
from tests.compat.voice_setup import (
    VoiceSetup,
    body,
    everything,
    heard,
    provision,
    receiver,
    show,
    wait_for,
    wait_hooks,
)
from tests.support.cluster import basic
from tests.support.live import ROOT, LiveServer, missing_tool

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

APP_CREDS = ("cb-user", "cb-pass")
SDK_VENVS = {
    "sdk23": ROOT / ".venv-compat-sdk",
    "sdk15": ROOT / ".venv-compat-sdk15",
}
SDK_VERSIONS = {"sdk23": "bandwidth-sdk==23.3.1", "sdk15": "bandwidth-sdk==15.1.0"}
VALIDATE_TIMEOUT = 120

INITIATE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<StartGather dtmfUrl="/cb/dtmf" tag="cb-tag"/>'
    "<SpeakSentence>Press a key now</SpeakSentence>"
    '<Pause duration="60"/>'
    "</Response>"
)
REDIRECTED = (
    "<Response>"
    '<Gather gatherUrl="/cb/gather" maxDigits="3" terminatingDigits="#">'
    "<SpeakSentence>Enter your digits</SpeakSentence></Gather>"
    '<Pause duration="60"/>'
    "</Response>"
)
GATHERED = (
    "<Response><SpeakSentence>Record after this</SpeakSentence>"
    '<Record recordCompleteUrl="/cb/record-complete" recordingAvailableUrl="/cb/available" '
    'maxDuration="2" fileFormat="wav"/>'
    "</Response>"
)
ANSWER = "<Response><SpeakSentence>Goodbye</SpeakSentence></Response>"

# event name -> (the receiver path it arrives at, the SDK model that describes it)
EVENTS: dict[str, tuple[str, str]] = {
    "initiate": ("/cb/initiate", "InitiateCallback"),
    "dtmf": ("/cb/dtmf", "DtmfCallback"),
    "redirect": ("/cb/redirect", "RedirectCallback"),
    "gather": ("/cb/gather", "GatherCallback"),
    "recordComplete": ("/cb/record-complete", "RecordingCompleteCallback"),
    "recordingAvailable": ("/cb/available", "RecordingAvailableCallback"),
    "disconnect-inbound": ("/cb/status", "DisconnectCallback"),
    "answer": ("/cb/answer", "AnswerCallback"),
    "disconnect-outbound": ("/cb/disconnect", "DisconnectCallback"),
}
# Defects of an SDK release, not of the server: (sdk, event) -> (field, what the SDK wrongly
# expects). bandwidth-sdk 15.x types RecordingAvailableCallback.channels as a string (its spec
# pointed `channels` at the `status` schema: the field carries status's description); Bandwidth
# sends an integer, and 23.x's model is StrictInt. The test checks that the body fails on that
# field only, and that it parses cleanly once `channels` is given as the 15.x model wants it.
KNOWN_SDK_BUGS: dict[tuple[str, str], tuple[str, Any]] = {
    ("sdk15", "recordingAvailable"): ("channels", str),
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
DURATION = re.compile(r"^PT\d+(\.\d+)?S$")


@dataclass
class Captured:
    setup: VoiceSetup
    inbound: str  # callId
    outbound: str
    hits: dict[str, Any] = field(default_factory=dict)  # event name -> Hit
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)


def _run_flows(server: LiveServer) -> Captured:
    rx = receiver()
    rx.bxml.update(
        {
            "/cb/initiate": INITIATE,
            "/cb/redirect": REDIRECTED,
            "/cb/gather": GATHERED,
            "/cb/record-complete": "<Response><Hangup/></Response>",
            "/cb/answer": ANSWER,
        }
    )
    setup = provision(
        server,
        rx,
        initiate_path="/cb/initiate",
        status_path="/cb/status",
        creds=APP_CREDS,
        name="compat callbacks",
        script={"answerAfterSeconds": 1},
    )
    number = setup.app.numbers[0]
    with server.client() as c:
        # --- outbound: answer, disconnect ------------------------------------------------------
        r = c.post(
            setup.calls,
            json={
                "to": setup.handset,
                "from": number,
                "applicationId": setup.app.app_id,
                "answerUrl": rx.url("/cb/answer"),
                "disconnectUrl": rx.url("/cb/disconnect"),
                "tag": "out-tag",
            },
        )
        assert r.status_code == 201, r.text
        outbound = r.json()["callId"]

        # --- inbound: initiate, dtmf, redirect, gather, recordComplete, recordingAvailable,
        # disconnect -------------------------------------------------------------------------
        r = c.post("/sim/v1/calls", json={"from": setup.handset, "to": number})
        assert r.status_code == 201, r.text
        inbound = r.json()["callId"]
        wait_hooks(rx, "/cb/initiate")
        wait_for("the prompt", lambda: "Press a key now" in heard(c, inbound))
        r = c.post(f"/sim/v1/calls/{inbound}/dtmf", json={"digits": "5"})
        assert r.status_code == 204, r.text
        wait_hooks(rx, "/cb/dtmf")
        r = c.post(
            f"{setup.calls}/{inbound}",
            json={
                "state": "active",
                "redirectUrl": rx.url("/cb/redirect"),
                "username": APP_CREDS[0],
                "password": APP_CREDS[1],
            },
        )
        assert r.status_code == 200, r.text
        wait_hooks(rx, "/cb/redirect")
        wait_for("the gather prompt", lambda: "Enter your digits" in heard(c, inbound))
        r = c.post(f"/sim/v1/calls/{inbound}/dtmf", json={"digits": "4#"})
        assert r.status_code == 204, r.text
        wait_hooks(rx, "/cb/gather")
        wait_hooks(rx, "/cb/record-complete")
        wait_hooks(rx, "/cb/available")
        wait_hooks(rx, "/cb/status")
        wait_hooks(rx, "/cb/disconnect")

    cap = Captured(setup, inbound, outbound)
    for name, (path, _) in EVENTS.items():
        got = [h for h in rx.callbacks(path) if h.body]
        assert len(got) == 1, f"exactly one {name} webhook expected at {path}:\n{everything(rx)}"
        cap.hits[name] = got[0]
        cap.bodies[name] = body(got[0])
    return cap


_CAPTURED: dict[str, Captured] = {}
_PARSED: dict[tuple[str, str], dict[str, Any]] = {}


@pytest.fixture(scope="module")
def captured(live_server: LiveServer) -> Captured:
    """The flows run once per server (xdist may re-create module fixtures)."""
    if live_server.base_url not in _CAPTURED:
        _CAPTURED[live_server.base_url] = _run_flows(live_server)
    return _CAPTURED[live_server.base_url]


def _validate(sdk: str, cap: Captured) -> dict[str, Any]:
    python = SDK_VENVS[sdk] / "bin" / "python"
    if not python.exists():
        missing_tool(f"{python} missing: run `bash tests/compat/install.sh`")
    items = [
        {"id": name, "model": EVENTS[name][1], "body": cap.hits[name].body.decode()}
        for name in EVENTS
    ]
    for (bug_sdk, name), (key, kind) in KNOWN_SDK_BUGS.items():
        if bug_sdk == sdk:
            patched = {**cap.bodies[name], key: kind(cap.bodies[name][key])}
            items.append(
                {"id": f"{name}~{key}", "model": EVENTS[name][1], "body": json.dumps(patched)}
            )
    r = subprocess.run(
        [str(python), str(DRIVERS / "voice_callbacks_py.py")],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        timeout=VALIDATE_TIMEOUT,
        cwd=HERE,
    )
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        pytest.fail(
            f"voice_callbacks_py.py ({sdk}) printed no JSON (exit {r.returncode}):\n"
            f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}",
            pytrace=False,
        )
    out = json.loads(lines[-1])
    assert out["sdk"] == SDK_VERSIONS[sdk], out["sdk"]
    return out


@pytest.fixture(scope="module", params=list(SDK_VENVS))
def parsed(request: pytest.FixtureRequest, captured: Captured, live_server: LiveServer) -> dict:
    """Each event's parse result by one SDK ("name": sdk23 or sdk15; "sdk": its version)."""
    key = (request.param, live_server.base_url)
    if key not in _PARSED:
        _PARSED[key] = _validate(request.param, captured)
    return {**_PARSED[key], "name": request.param}


def _parsed(parsed: dict, cap: Captured, name: str) -> dict[str, Any]:
    """The SDK's parse of one event, failing with the body if it did not parse cleanly."""
    res = parsed["results"][name]
    where = f"{parsed['sdk']} {EVENTS[name][1]}\n{show(cap.hits[name])}"
    bug = KNOWN_SDK_BUGS.get((parsed["name"], name))
    if bug is not None:
        key = bug[0]
        assert not res["ok"] and f"\n{key}\n" in res["error"].replace(" | ", "\n"), (
            f"{where}\nthe SDK's known defect on {key!r} did not show: {res}"
        )
        assert res["error"].startswith("ValidationError: 1 validation error"), res["error"]
        res = parsed["results"][f"{name}~{key}"]
        where += f"\n(with {key} as the SDK's model wants it)"
    assert res["ok"], f"{where}\nSDK error: {res['error']}"
    if "strict" in res:
        assert res["strict"] == "ok", f"{where}\nstrict validation: {res['strict']}"
    assert res["unknown"] == [], f"{where}\nkeys the SDK model does not know: {res['unknown']}"
    assert res["mismatches"] == [], (
        f"{where}\nvalues changed by parsing: {res['mismatches']}; parsed {res['fields']}"
    )
    return res


# --- every body parses, strictly ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EVENTS))
def test_webhook_parses_with_sdk_model(parsed: dict, captured: Captured, name: str) -> None:
    res = _parsed(parsed, captured, name)
    b = captured.bodies[name]
    f, types = res["fields"], res["types"]
    where = f"{parsed['sdk']} {name}: parsed {f} types {types}\n{show(captured.hits[name])}"
    # Nothing the server sent is lost, and the common fields are typed as the SDK types them.
    for key in b:
        assert key in f, where
    assert not (set(f) - set(b)) - {k for k, v in f.items() if v is None}, where
    for key in ("eventTime", "startTime"):
        assert types.get(key) == "datetime" and ISO_MS.match(b[key]), where
    assert types.get("direction") == "CallDirectionEnum", where
    event_type = name.split("-", 1)[0]
    assert f["eventType"] == event_type, where
    assert f["accountId"] == captured.setup.server.account_id, where
    assert f["applicationId"] == captured.setup.app.app_id, where
    call_id = captured.outbound if name in ("answer", "disconnect-outbound") else captured.inbound
    assert f["callId"] == call_id, where
    assert f["callUrl"].endswith(f"{captured.setup.calls}/{call_id}"), where
    assert f["callUrl"].startswith("http"), where


def test_webhooks_are_json_posts_with_app_creds(captured: Captured) -> None:
    for name, hit in captured.hits.items():
        h = {k.lower(): v for k, v in hit.headers.items()}
        assert hit.method == "POST", show(hit)
        assert h.get("content-type", "").startswith("application/json"), show(hit)
        if name not in ("answer", "disconnect-outbound"):
            # The inbound call's webhooks carry the application's CallbackCreds (the redirect:
            # the same credentials, given with POST …/calls/{id}).
            assert h.get("authorization") == basic(APP_CREDS), show(hit)


# --- the fields each event is about, as the SDK reads them --------------------------------------


def test_initiate(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "initiate")["fields"]
    assert f["direction"] == "inbound", f
    assert f["from"] == captured.setup.handset and f["to"] == captured.setup.app.numbers[0], f
    assert "tag" not in captured.bodies["initiate"], captured.bodies["initiate"]


def test_dtmf(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "dtmf")["fields"]
    assert f["digit"] == "5", f
    assert f["tag"] == "cb-tag", f  # StartGather's tag attribute
    assert f["answerTime"], f


def test_redirect(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "redirect")["fields"]
    assert f["tag"] == "cb-tag" and f["answerTime"] and f["direction"] == "inbound", f


def test_gather(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "gather")["fields"]
    assert f["digits"] == "4", f
    assert f["terminatingDigit"] == "#", f
    assert f["tag"] == "cb-tag", f


def test_record_complete(parsed: dict, captured: Captured) -> None:
    res = _parsed(parsed, captured, "recordComplete")
    f, types = res["fields"], res["types"]
    rid = f["recordingId"]
    assert rid and f["mediaUrl"].endswith(
        f"{captured.setup.calls}/{captured.inbound}/recordings/{rid}/media"
    ), f
    assert DURATION.match(f["duration"]), f
    assert f["fileFormat"] == "wav" and types["fileFormat"] == "FileFormatEnum", res
    assert f["channels"] == 1 and types["channels"] == "int", res
    assert types["endTime"] == "datetime", res
    assert f["tag"] == "cb-tag", f


def test_recording_available(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "recordingAvailable")["fields"]
    done = captured.bodies["recordComplete"]
    assert f["recordingId"] == done["recordingId"], f
    assert f["mediaUrl"] == done["mediaUrl"], f
    assert f["status"] == "complete", f
    assert f["fileFormat"] == "wav" and str(f["channels"]) == "1", f
    assert isinstance(captured.bodies["recordingAvailable"]["channels"], int), f
    assert DURATION.match(f["duration"]) and f["endTime"], f


def test_disconnect_inbound(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "disconnect-inbound")["fields"]
    assert f["cause"] == "hangup", f
    assert f["endTime"] and f["answerTime"], f
    assert f["direction"] == "inbound", f


def test_answer(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "answer")["fields"]
    assert f["direction"] == "outbound", f
    assert f["from"] == captured.setup.app.numbers[0] and f["to"] == captured.setup.handset, f
    assert f["tag"] == "out-tag" and f["answerTime"], f


def test_disconnect_outbound(parsed: dict, captured: Captured) -> None:
    f = _parsed(parsed, captured, "disconnect-outbound")["fields"]
    assert f["cause"] == "hangup" and f["tag"] == "out-tag", f
    assert f["endTime"] and f["direction"] == "outbound", f
