"""Shared by the Voice v2 compat tests: a webhook receiver answering BXML, a Voice-V2 application
provisioned through the Dashboard API, and reading what arrived.

The receiver is tests/support/cluster.Receiver (a thread of its own, `.bxml[path]` answers); the
provisioning is cluster.provision_voice, as a Bandwidth customer does it (application with
CallInitiatedCallbackUrl/CallStatusCallbackUrl/CallbackCreds, a location whose origination
settings name it, numbers ordered onto it).
"""

from __future__ import annotations

import atexit
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.compat.conftest import _run_driver
from tests.support.cluster import Hit, Receiver, VoiceApp, handset, provision_voice
from tests.support.live import LiveServer

HOOK_TIMEOUT = 30.0
_RECEIVERS: list[Receiver] = []


def _stop_receivers() -> None:
    while _RECEIVERS:
        _RECEIVERS.pop().__exit__(None, None, None)


atexit.register(_stop_receivers)


def receiver() -> Receiver:
    """A started Receiver, stopped when the test process exits."""
    rx = Receiver().__enter__()
    _RECEIVERS.append(rx)
    return rx


@dataclass
class VoiceSetup:
    server: LiveServer
    rx: Receiver
    app: VoiceApp
    handset: str  # a simulator handset nobody owns

    @property
    def calls(self) -> str:
        return f"/api/v2/accounts/{self.server.account_id}/calls"


def provision(
    server: LiveServer,
    rx: Receiver,
    *,
    initiate_path: str,
    status_path: str | None,
    creds: tuple[str, str] | None,
    name: str,
    quantity: int = 1,
    script: dict[str, Any] | None = None,
) -> VoiceSetup:
    """The application (its webhooks at `rx`), its numbers, and a handset with a call script."""
    phone = handset()
    with server.client() as c:
        app = provision_voice(
            c,
            server.account_id,
            rx.url(initiate_path),
            rx.url(status_path) if status_path else None,
            creds,
            quantity=quantity,
            name=name,
        )
        r = c.put(f"/sim/v1/handsets/{phone}", json={"call": script or {"answerAfterSeconds": 2}})
        assert r.status_code == 200, f"handset script: {r.status_code} {r.text}"
    return VoiceSetup(server, rx, app, phone)


# --- what arrived ---------------------------------------------------------------------------------


def hooks(rx: Receiver, path: str) -> list[Hit]:
    """The finished POSTs at `path`, in arrival order."""
    return [h for h in rx.callbacks(path) if h.body]


def wait_hooks(rx: Receiver, path: str, count: int = 1, timeout: float = HOOK_TIMEOUT) -> list[Hit]:
    """The POSTs at `path` once there are `count` of them; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = hooks(rx, path)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{count} webhook(s) at {path} expected within {timeout:.0f}s, got {len(found)}; "
                f"everything received:\n{everything(rx)}"
            )
        time.sleep(0.05)


def body(hit: Hit) -> dict[str, Any]:
    doc = json.loads(hit.body)
    assert isinstance(doc, dict), f"a voice webhook's body is one JSON object: {show(hit)}"
    return doc


def show(hit: Hit) -> str:
    h = {k: v for k, v in hit.headers.items() if k.lower() != "host"}
    return f"{hit.method} {hit.path} headers={h} body={hit.body[:2000]!r}"


def everything(rx: Receiver) -> str:
    return "\n".join(show(h) for h in rx.snapshot()) or "(nothing received)"


def timeline(c: httpx.Client, call_id: str) -> list[dict[str, Any]]:
    r = c.get(f"/sim/v1/calls/{call_id}")
    assert r.status_code == 200, r.text
    return r.json()["timeline"]


def heard(c: httpx.Client, call_id: str) -> list[str]:
    """What the handset heard on the call, in order (sentences and file URLs)."""
    return [
        e["detail"].get("text") or e["detail"].get("url") or ""
        for e in timeline(c, call_id)
        if e["kind"] == "heard"
    ]


def wait_for(
    what: str, predicate: Callable[[], Any], timeout: float = HOOK_TIMEOUT, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# --- the SDK drivers' runs (test_voice_py.py, test_voice_node.py) --------------------------------

SPEECH = "This is the handset leaving a message"


def driver_bxml(prefix: str) -> dict[str, str]:
    """What the application answers the drivers' calls with, at `prefix`/…"""
    return {
        f"{prefix}/answer": (
            "<Response><SpeakSentence>Hello from OpenBand</SpeakSentence>"
            '<Pause duration="60"/></Response>'
        ),
        f"{prefix}/redirected": (
            '<Response><SpeakSentence>Redirected</SpeakSentence><Pause duration="60"/></Response>'
        ),
        # Relative: resolved against the URL that served this document (…/available).
        f"{prefix}/record": (
            "<Response><SpeakSentence>Please leave a message</SpeakSentence>"
            '<Record maxDuration="3" recordingAvailableUrl="available"/></Response>'
        ),
    }


@dataclass
class DriverRun:
    setup: VoiceSetup
    prefix: str  # the receiver path prefix of this driver's webhooks
    result: dict[str, Any]


_RUNS: dict[tuple[str, str], DriverRun] = {}


def run_voice_driver(server: LiveServer, cmd: list[str], prefix: str) -> DriverRun:
    """Provision an application and a handset, then run the driver once per (driver, server)."""
    key = (cmd[-1], server.base_url)
    if key not in _RUNS:
        rx = receiver()
        rx.bxml.update(driver_bxml(prefix))
        script = {
            "answerAfterSeconds": 2,
            "actions": [
                {"on": "heard", "phrase": "leave a message", "afterSeconds": 1.5, "say": SPEECH}
            ],
        }
        setup = provision(
            server,
            rx,
            initiate_path=f"{prefix}/initiate",
            status_path=f"{prefix}/status",
            creds=None,
            name=f"compat voice {prefix}",
            script=script,
        )
        env = {
            "OB_VOICE_APP_ID": setup.app.app_id,
            "OB_VOICE_NUMBERS": ",".join(setup.app.numbers),
            "OB_VOICE_HANDSET": setup.handset,
            "OB_VOICE_HOOKS": rx.url(prefix),
        }
        _RUNS[key] = DriverRun(setup, prefix, _run_driver(cmd, server, env))
    return _RUNS[key]
