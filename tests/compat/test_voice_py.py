"""PyPI bandwidth-sdk==23.3.1 (CallsApi, RecordingsApi, BXML) against a live server
(drivers/voice_py.py), and the webhooks its calls produce at a real receiver.

Provisioning (a Voice-V2 application, a location whose origination names it, a number, a
simulator handset that answers after 2 s) is done here through the Dashboard and simulator APIs
before the driver runs (tests/compat/voice_setup.py). The driver: create_call; get_call_state
until answered; list_calls with filters; update_call redirect; update_call_bxml; update_call
state completed; a second call whose BXML records the handset; list_call_recordings,
get_call_recording, download_call_recording. Every response goes through the SDK's own
(strict, pydantic 2) deserialisation, and the model must know every key the server sent.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.compat.conftest import DRIVERS
from tests.compat.results import ctx, step
from tests.compat.voice_setup import DriverRun, body, everything, hooks, run_voice_driver, show
from tests.support.live import ROOT, LiveServer, missing_tool

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

SDK_VENV = ROOT / ".venv-compat-sdk"
DURATION = re.compile(r"^PT\d+(\.\d+)?S$")


@pytest.fixture(scope="module")
def voice_py_run(live_server: LiveServer) -> DriverRun:
    python = SDK_VENV / "bin" / "python"
    if not python.exists():
        missing_tool(f"{python} missing: run `bash tests/compat/install.sh`")
    return run_voice_driver(live_server, [str(python), str(DRIVERS / "voice_py.py")], "/py")


@pytest.fixture(scope="module")
def voice_py(voice_py_run: DriverRun) -> dict:
    return voice_py_run.result


def _t(v: str | None) -> datetime:
    assert v, "a time is missing"
    return datetime.fromisoformat(v)


def _webhooks(run: DriverRun, path: str, call_id: str) -> list[dict]:
    found = [body(h) for h in hooks(run.setup.rx, f"{run.prefix}{path}")]
    return [b for b in found if b.get("callId") == call_id]


def test_create_call(voice_py: dict, voice_py_run: DriverRun) -> None:
    v = step(voice_py, "create_call")
    c = ctx(voice_py, "create_call")
    setup = voice_py_run.setup
    assert v["status"] == 201, c
    assert v["additional_properties"] == [], c
    assert v["call_id"].startswith("c-"), c
    assert v["call_url"].endswith(f"{setup.calls}/{v['call_id']}"), c
    assert v["location"] == v["call_url"], c
    assert v["account_id"] == setup.server.account_id, c
    assert v["application_id"] == setup.app.app_id, c
    assert v["to"] == setup.handset and v["from"] == setup.app.numbers[0], c
    assert v["answer_url"].endswith("/py/answer") and v["answer_method"] == "POST", c
    assert v["disconnect_url"].endswith("/py/disconnect") and v["disconnect_method"] == "POST", c
    assert v["call_timeout"] == 30 and v["callback_timeout"] == 15 and v["priority"] == 5, c
    assert v["tag"] == "py-call", c
    assert v["types"] == {
        "enqueued_time": "datetime",
        "answer_method": "CallbackMethodEnum",
        "disconnect_method": "CallbackMethodEnum",
        "priority": "int",
    }, c


def test_answer_webhook_reaches_answer_url(voice_py: dict, voice_py_run: DriverRun) -> None:
    call_id = step(voice_py, "create_call")["call_id"]
    step(voice_py, "answered")
    got = _webhooks(voice_py_run, "/answer", call_id)
    assert len(got) == 1, everything(voice_py_run.setup.rx)
    answer = got[0]
    assert answer["eventType"] == "answer" and answer["direction"] == "outbound", answer
    assert answer["tag"] == "py-call" and answer["answerTime"], answer


def test_get_call_state(voice_py: dict) -> None:
    v = step(voice_py, "answered")
    c = ctx(voice_py, "answered")
    assert v["status"] == 200 and v["state"] == "answered", c
    assert v["additional_properties"] == [], c
    assert v["direction"] == "outbound" and v["disconnect_cause"] is None, c
    assert v["call_id"] == step(voice_py, "create_call")["call_id"], c
    assert v["types"] == {
        "direction": "CallDirectionEnum",
        "start_time": "datetime",
        "answer_time": "datetime",
        "end_time": "NoneType",
        "last_update": "datetime",
    }, c
    # The handset rang for two seconds before it answered.
    ring = (_t(v["answer_time"]) - _t(v["start_time"])).total_seconds()
    assert 1.5 <= ring <= 10, c
    assert _t(v["enqueued_time"]) <= _t(v["start_time"]), c


def test_list_calls_with_filters(voice_py: dict, voice_py_run: DriverRun) -> None:
    v = step(voice_py, "list_calls")
    c = ctx(voice_py, "list_calls")
    call_id = step(voice_py, "create_call")["call_id"]
    assert v["statuses"] == [200, 200, 200], c
    mine = [x for x in v["by_to"] if x["call_id"] == call_id]
    assert len(mine) == 1, c
    assert all(x["to"] == voice_py_run.setup.handset for x in v["by_to"]), c
    assert mine[0]["state"] == "answered" and mine[0]["additional_properties"] == [], c
    assert mine[0]["types"]["start_time"] == "datetime", c
    assert call_id in v["by_from_ids"], c
    assert v["nobody"] == 0, c


def test_redirect(voice_py: dict, voice_py_run: DriverRun) -> None:
    v = step(voice_py, "redirect")
    c = ctx(voice_py, "redirect")
    assert v["status"] == 200 and v["data"] is None, c
    call_id = step(voice_py, "create_call")["call_id"]
    got = _webhooks(voice_py_run, "/redirected", call_id)
    assert len(got) == 1, everything(voice_py_run.setup.rx)
    assert got[0]["eventType"] == "redirect" and got[0]["tag"] == "py-call", got[0]
    assert v["heard"][:2] == ["Hello from OpenBand", "Redirected"], c


def test_update_call_bxml_replaces_the_document(voice_py: dict) -> None:
    v = step(voice_py, "update_bxml")
    c = ctx(voice_py, "update_bxml")
    assert v["status"] == 204 and v["data"] is None, c
    assert "<Bxml>" in v["bxml"], c
    assert v["heard"][-1] == "Replaced by the SDK", c
    assert v["heard"].index("Redirected") < v["heard"].index("Replaced by the SDK"), c


def test_update_call_completed_hangs_up(voice_py: dict, voice_py_run: DriverRun) -> None:
    v = step(voice_py, "hang_up")
    c = ctx(voice_py, "hang_up")
    assert v["status"] == 200 and v["data"] is None, c
    after = v["after"]
    assert after["state"] == "disconnected" and after["disconnect_cause"] == "hangup", c
    assert after["types"]["end_time"] == "datetime", c
    assert _t(after["answer_time"]) < _t(after["end_time"]), c
    got = _webhooks(voice_py_run, "/disconnect", after["call_id"])
    assert len(got) == 1, everything(voice_py_run.setup.rx)
    assert got[0]["eventType"] == "disconnect" and got[0]["cause"] == "hangup", got[0]


def test_unknown_call_is_404_voice_api_error(voice_py: dict) -> None:
    v = step(voice_py, "error_not_found")
    c = ctx(voice_py, "error_not_found")
    assert v["is_expected"] and v["status"] == 404, c
    assert v["data_type"] == "VoiceApiError" and v["additional_properties"] == [], c
    assert v["type"] == "validation" and v["description"], c


def test_ended_call_cannot_be_redirected_409(voice_py: dict) -> None:
    v = step(voice_py, "error_ended_call")
    c = ctx(voice_py, "error_ended_call")
    assert v["is_expected"] and v["status"] == 409, c
    assert v["data_type"] == "VoiceApiError" and v["additional_properties"] == [], c
    assert v["type"] == "validation" and v["description"], c


def test_recorded_call(voice_py: dict) -> None:
    v = step(voice_py, "record_call")
    c = ctx(voice_py, "record_call")
    assert v["create"]["status"] == 201, c
    assert v["after"]["state"] == "disconnected", c
    assert v["after"]["disconnect_cause"] == "hangup", c


def test_list_call_recordings(voice_py: dict, voice_py_run: DriverRun) -> None:
    v = step(voice_py, "list_call_recordings")
    c = ctx(voice_py, "list_call_recordings")
    call_id = step(voice_py, "record_call")["create"]["call_id"]
    setup = voice_py_run.setup
    assert v["status"] == 200 and len(v["items"]) == 1, c
    r = v["items"][0]
    assert r["additional_properties"] == [], c
    assert r["call_id"] == call_id and r["recording_id"], c
    assert r["account_id"] == setup.server.account_id, c
    assert r["application_id"] == setup.app.app_id, c
    assert r["to"] == setup.handset and r["from"] == setup.app.numbers[0], c
    assert r["direction"] == "outbound", c
    assert r["file_format"] == "wav" and r["channels"] == 1 and r["status"] == "complete", c
    assert DURATION.match(r["duration"]), c
    assert r["media_url"].endswith(
        f"{setup.calls}/{call_id}/recordings/{r['recording_id']}/media"
    ), c
    assert r["types"] == {
        "direction": "CallDirectionEnum",
        "channels": "int",
        "start_time": "datetime",
        "end_time": "datetime",
        "file_format": "FileFormatEnum",
    }, c
    assert _t(r["start_time"]) < _t(r["end_time"]), c
    # recordingAvailable went to the Record's (relative) recordingAvailableUrl.
    got = _webhooks(voice_py_run, "/available", call_id)
    assert len(got) == 1, everything(voice_py_run.setup.rx)
    assert got[0]["recordingId"] == r["recording_id"], show(hooks(setup.rx, "/py/available")[0])
    assert got[0]["mediaUrl"] == r["media_url"], got[0]


def test_get_call_recording(voice_py: dict) -> None:
    v = step(voice_py, "get_call_recording")
    c = ctx(voice_py, "get_call_recording")
    listed = step(voice_py, "list_call_recordings")["items"][0]
    assert v["status"] == 200, c
    assert v["recording"] == listed, c


def test_download_call_recording(voice_py: dict) -> None:
    v = step(voice_py, "download_call_recording")
    c = ctx(voice_py, "download_call_recording")
    assert v["status"] == 200 and v["type"] in ("bytes", "bytearray"), c
    assert v["riff"] == "RIFF" and v["wave"] == "WAVE", c
    assert v["content_type"] == "audio/vnd.wave", c
    # Up to maxDuration="3" of 8 kHz 16-bit mono, at least a second of it.
    assert 16_000 < v["size"] < 200_000, c
