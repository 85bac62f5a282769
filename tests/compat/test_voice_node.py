"""npm bandwidth-sdk@8.1.4 (CallsApi, RecordingsApi, Bxml) against a live server
(drivers/voice_node.js): the same flow as test_voice_py.py, and the webhooks it produces.

This SDK validates nothing itself, so the driver checks every JSON body against the TypeScript
interface the SDK declares for it (undeclared keys, wrong types, enum values, nulls where the
type is not nullable, missing required keys) and reports the exact status codes; the tests
assert both. Skipped without `node` locally; failing under CI=true.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import pytest

from tests.compat.conftest import DRIVERS, NODE_MODULES
from tests.compat.results import ctx, step
from tests.compat.voice_setup import DriverRun, body, everything, hooks, run_voice_driver
from tests.support.live import LiveServer, missing_tool

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

DURATION = re.compile(r"^PT\d+(\.\d+)?S$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def voice_node_run(live_server: LiveServer) -> DriverRun:
    node = shutil.which("node")
    if node is None:
        missing_tool("`node` not found: the Node.js compat tests need Node.js and npm")
    if not (NODE_MODULES / "bandwidth-sdk").is_dir():
        missing_tool("bandwidth-sdk (npm) not installed: run `bash tests/compat/install.sh`")
    return run_voice_driver(live_server, [str(node), str(DRIVERS / "voice_node.js")], "/node")


@pytest.fixture(scope="module")
def voice_node(voice_node_run: DriverRun) -> dict:
    return voice_node_run.result


def _t(v: str | None) -> datetime:
    assert v and ISO_MS.match(v), f"not an ISO-8601 UTC time with milliseconds: {v!r}"
    return datetime.fromisoformat(v.replace("Z", "+00:00"))


def _webhooks(run: DriverRun, path: str, call_id: str) -> list[dict]:
    found = [body(h) for h in hooks(run.setup.rx, f"{run.prefix}{path}")]
    return [b for b in found if b.get("callId") == call_id]


def test_create_call(voice_node: dict, voice_node_run: DriverRun) -> None:
    v = step(voice_node, "create_call")
    c = ctx(voice_node, "create_call")
    setup = voice_node_run.setup
    d = v["data"]
    assert v["status"] == 201, c
    assert v["problems"] == [], c
    assert d["callId"].startswith("c-"), c
    assert d["callUrl"].endswith(f"{setup.calls}/{d['callId']}"), c
    assert v["location"] == d["callUrl"], c
    assert d["accountId"] == setup.server.account_id and d["applicationId"] == setup.app.app_id, c
    assert d["to"] == setup.handset and d["from"] == setup.app.numbers[0], c
    assert d["answerUrl"].endswith("/node/answer") and d["answerMethod"] == "POST", c
    assert d["disconnectUrl"].endswith("/node/disconnect") and d["disconnectMethod"] == "POST", c
    # Node sends only what it is given: the server's defaults show.
    assert d["callTimeout"] == 30 and d["callbackTimeout"] == 15 and d["priority"] == 5, c
    assert d["tag"] == "node-call", c
    _t(d["enqueuedTime"])


def test_answer_webhook_reaches_answer_url(voice_node: dict, voice_node_run: DriverRun) -> None:
    call_id = step(voice_node, "create_call")["data"]["callId"]
    step(voice_node, "answered")
    got = _webhooks(voice_node_run, "/answer", call_id)
    assert len(got) == 1, everything(voice_node_run.setup.rx)
    assert got[0]["eventType"] == "answer" and got[0]["tag"] == "node-call", got[0]


def test_get_call_state(voice_node: dict) -> None:
    v = step(voice_node, "answered")
    c = ctx(voice_node, "answered")
    d = v["data"]
    assert v["status"] == 200 and v["problems"] == [], c
    assert d["state"] == "answered" and d["direction"] == "outbound", c
    assert d["callId"] == step(voice_node, "create_call")["data"]["callId"], c
    assert d["endTime"] is None and d["disconnectCause"] is None, c
    ring = (_t(d["answerTime"]) - _t(d["startTime"])).total_seconds()
    assert 1.5 <= ring <= 10, c
    _t(d["lastUpdate"])


def test_list_calls_with_filters(voice_node: dict, voice_node_run: DriverRun) -> None:
    v = step(voice_node, "list_calls")
    c = ctx(voice_node, "list_calls")
    call_id = step(voice_node, "create_call")["data"]["callId"]
    assert v["statuses"] == [200, 200, 200] and v["arrays"] == [True, True, True], c
    assert v["problems"] == [], c
    assert [x["state"] for x in v["byTo"] if x["callId"] == call_id] == ["answered"], c
    assert all(x["to"] == voice_node_run.setup.handset for x in v["byTo"]), c
    assert call_id in v["byFromIds"], c
    assert v["nobody"] == 0, c


def test_redirect(voice_node: dict, voice_node_run: DriverRun) -> None:
    v = step(voice_node, "redirect")
    c = ctx(voice_node, "redirect")
    assert v["status"] == 200, c
    call_id = step(voice_node, "create_call")["data"]["callId"]
    got = _webhooks(voice_node_run, "/redirected", call_id)
    assert len(got) == 1, everything(voice_node_run.setup.rx)
    assert got[0]["eventType"] == "redirect" and got[0]["tag"] == "node-call", got[0]
    assert v["heard"][:2] == ["Hello from OpenBand", "Redirected"], c


def test_update_call_bxml_replaces_the_document(voice_node: dict) -> None:
    v = step(voice_node, "update_bxml")
    c = ctx(voice_node, "update_bxml")
    assert v["status"] == 204 and v["body"] == "", c
    assert "<Bxml>" in v["bxml"], c
    assert v["heard"][-1] == "Replaced by the SDK", c


def test_update_call_completed_hangs_up(voice_node: dict, voice_node_run: DriverRun) -> None:
    v = step(voice_node, "hang_up")
    c = ctx(voice_node, "hang_up")
    assert v["status"] == 200, c
    after = v["after"]
    d = after["data"]
    assert after["problems"] == [], c
    assert d["state"] == "disconnected" and d["disconnectCause"] == "hangup", c
    assert _t(d["answerTime"]) < _t(d["endTime"]), c
    got = _webhooks(voice_node_run, "/disconnect", d["callId"])
    assert len(got) == 1, everything(voice_node_run.setup.rx)
    assert got[0]["eventType"] == "disconnect" and got[0]["cause"] == "hangup", got[0]


@pytest.mark.parametrize(("name", "status"), [("error_not_found", 404), ("error_ended_call", 409)])
def test_errors_are_voice_api_errors(voice_node: dict, name: str, status: int) -> None:
    v = step(voice_node, name)
    c = ctx(voice_node, name)
    assert v["rejected"] and v["isAxiosError"] and v["status"] == status, c
    assert v["problems"] == [], c
    assert v["data"]["type"] == "validation" and v["data"]["description"], c


def test_list_call_recordings(voice_node: dict, voice_node_run: DriverRun) -> None:
    rec = step(voice_node, "record_call")
    assert rec["create"]["status"] == 201 and rec["create"]["problems"] == [], rec
    assert rec["after"]["data"]["state"] == "disconnected", rec
    v = step(voice_node, "list_call_recordings")
    c = ctx(voice_node, "list_call_recordings")
    call_id = rec["create"]["data"]["callId"]
    setup = voice_node_run.setup
    assert v["status"] == 200 and v["isArray"] and len(v["items"]) == 1, c
    assert v["problems"] == [], c
    r = v["items"][0]
    assert r["callId"] == call_id and r["recordingId"], c
    assert r["to"] == setup.handset and r["from"] == setup.app.numbers[0], c
    assert r["direction"] == "outbound" and r["fileFormat"] == "wav", c
    assert r["channels"] == 1 and r["status"] == "complete", c
    assert DURATION.match(r["duration"]), c
    assert _t(r["startTime"]) < _t(r["endTime"]), c
    assert r["mediaUrl"].endswith(f"{setup.calls}/{call_id}/recordings/{r['recordingId']}/media")
    got = _webhooks(voice_node_run, "/available", call_id)
    assert len(got) == 1 and got[0]["recordingId"] == r["recordingId"], everything(setup.rx)


def test_get_call_recording(voice_node: dict) -> None:
    v = step(voice_node, "get_call_recording")
    c = ctx(voice_node, "get_call_recording")
    assert v["status"] == 200 and v["problems"] == [], c
    assert v["data"] == step(voice_node, "list_call_recordings")["items"][0], c


def test_download_call_recording(voice_node: dict) -> None:
    v = step(voice_node, "download_call_recording")
    c = ctx(voice_node, "download_call_recording")
    assert v["status"] == 200, c
    assert v["riff"] == "RIFF" and v["wave"] == "WAVE", c
    assert v["contentType"] == "audio/vnd.wave", c
    assert 16_000 < v["size"] < 200_000, c
