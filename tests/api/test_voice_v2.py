"""Voice API v2 in-process, on each backend: validation of POST …/calls field by field, the
per-account limits (429 with Retry-After, Bandwidth's wording), statistics, both path forms,
Voice's error shape, and another account's calls. Calls end to end are in tests/e2e/test_voice_*.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lxml import etree

from openband.core import ratelimit
from tests.api.test_sim import handset, own, platform_tn
from tests.support.harness import Account

VOICE_APP = (
    "<Application><ServiceType>Voice-V2</ServiceType><AppName>calls</AppName>"
    "<CallInitiatedCallbackUrl>http://127.0.0.1:9/initiate</CallInitiatedCallbackUrl>"
    "</Application>"
)
MESSAGING_APP = (
    "<Application><ServiceType>Messaging-V2</ServiceType><AppName>texts</AppName>"
    "<CallbackUrl>http://127.0.0.1:9/cb</CallbackUrl></Application>"
)
XML = {"Content-Type": "application/xml"}
# Nothing listens on port 9: the calls made here end with callback-error once answered.
ANSWER = "http://127.0.0.1:9/answer"


def _app(acct: Account, doc: str = VOICE_APP) -> str:
    r = acct.client.post(
        f"/api/accounts/{acct.account_id}/applications", content=doc, headers=XML, auth=acct.auth
    )
    assert r.status_code == 201, r.text
    app_id = etree.fromstring(r.content).findtext("Application/ApplicationId")
    assert app_id
    return app_id


def _setup(acct: Account) -> tuple[str, str]:
    tn = platform_tn()
    own(acct, tn)
    return _app(acct), tn


def _body(app_id: str, tn: str, **extra: Any) -> dict[str, Any]:
    return {"from": tn, "to": handset(), "applicationId": app_id, "answerUrl": ANSWER, **extra}


def _err(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "description", "id"}, body
    return body


def test_create_both_path_forms_and_the_response(account: Account) -> None:
    app_id, tn = _setup(account)
    for prefix in ("/api/v2", ""):
        r = account.client.post(
            f"{prefix}/accounts/{account.account_id}/calls",
            json=_body(app_id, tn, tag="t", priority=2, callTimeout=45.5, uui="abc"),
            auth=account.auth,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert r.headers["Location"] == body["callUrl"]
        assert body["applicationId"] == app_id and body["accountId"] == account.account_id
        assert body["from"] == tn and body["callId"].startswith("c-")
        assert body["priority"] == 2 and body["tag"] == "t" and body["callTimeout"] == 45.5
        assert body["answerMethod"] == "POST" and body["disconnectMethod"] == "POST"
        assert body["username"] is None and body["password"] is None
        got = account.client.get(body["callUrl"], auth=account.auth)
        assert got.status_code == 200 and got.json()["callId"] == body["callId"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": None}, "to"),
        ({"to": "12345"}, "12345"),
        ({"from": None}, "from"),
        ({"from": 19195551234}, "from"),
        ({"applicationId": None}, "applicationId"),
        ({"answerUrl": None}, "answerUrl"),
        ({"answerUrl": "not a url"}, "answerUrl"),
        ({"answerUrl": "file:///etc/passwd"}, "answerUrl"),
        ({"answerMethod": "PUT"}, "answerMethod"),
        ({"disconnectUrl": "gopher://x"}, "disconnectUrl"),
        ({"callTimeout": 0}, "callTimeout"),
        ({"callTimeout": 301}, "callTimeout"),
        ({"callTimeout": "30"}, "callTimeout"),
        ({"callbackTimeout": 26}, "callbackTimeout"),
        ({"priority": 0}, "priority"),
        ({"priority": 2.5}, "priority"),
        ({"tag": "x" * 4097}, "tag"),
        ({"uui": "x" * 351}, "uui"),
        ({"privacy": "yes"}, "privacy"),
        ({"machineDetection": "on"}, "machineDetection"),
        ({"username": "u" * 1025}, "username"),
    ],
)
def test_create_refuses_bad_fields(account: Account, change: dict[str, Any], field: str) -> None:
    app_id, tn = _setup(account)
    body = {k: v for k, v in {**_body(app_id, tn), **change}.items() if v is not None}
    r = account.client.post(
        f"/api/v2/accounts/{account.account_id}/calls", json=body, auth=account.auth
    )
    e = _err(r, 400)
    assert e["type"] == "validation" and field in e["description"], e
    calls = account.client.get(f"/api/v2/accounts/{account.account_id}/calls", auth=account.auth)
    assert calls.json() == []  # nothing was written


def test_create_refuses_what_is_not_the_accounts(account: Account, other_account: Account) -> None:
    app_id, tn = _setup(account)
    their_app, their_tn = _setup(other_account)
    texts = _app(account, MESSAGING_APP)
    url = f"/api/v2/accounts/{account.account_id}/calls"
    c = account.client
    for body, field in (
        (_body(app_id, their_tn), "from"),  # another account's number
        (_body(app_id, handset()), "from"),  # nobody's number
        (_body(their_app, tn), "applicationId"),  # another account's application
        (_body(texts, tn), "applicationId"),  # not a voice application
    ):
        e = _err(c.post(url, json=body, auth=account.auth), 400)
        assert field in e["description"], e
    # Another account's URL: forbidden, whatever the body.
    e = _err(
        c.post(f"/api/v2/accounts/{other_account.account_id}/calls", json={}, auth=account.auth),
        403,
    )
    assert e["type"] == "authorization-error"
    e = _err(c.post(url, json=_body(app_id, tn), auth=("nobody", "wrong")), 401)
    assert e["type"] == "authentication-error"


def test_bodies_that_are_not_json(account: Account) -> None:
    url = f"/api/v2/accounts/{account.account_id}/calls"
    c = account.client
    _err(c.post(url, content=b"{", headers={"Content-Type": "application/json"},
                auth=account.auth), 400)  # fmt: skip
    _err(c.post(url, content=b"[1, 2]", headers={"Content-Type": "application/json"},
                auth=account.auth), 400)  # fmt: skip
    r = c.post(url, content=b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}',
               headers={"Content-Type": "application/json"}, auth=account.auth)  # fmt: skip
    assert r.status_code in (400, 413), r.text


def test_another_accounts_call_is_not_found(account: Account, other_account: Account) -> None:
    app_id, tn = _setup(account)
    r = account.client.post(
        f"/api/v2/accounts/{account.account_id}/calls", json=_body(app_id, tn), auth=account.auth
    )
    call_id = r.json()["callId"]
    theirs = f"/api/v2/accounts/{other_account.account_id}/calls/{call_id}"
    oc = other_account.client
    assert _err(oc.get(theirs, auth=other_account.auth), 404)["type"] == "validation"
    _err(oc.post(theirs, json={"state": "completed"}, auth=other_account.auth), 404)
    _err(oc.get(f"{theirs}/recordings", auth=other_account.auth), 404)
    _err(oc.put(f"{theirs}/bxml", content=b"<Bxml/>", headers=XML, auth=other_account.auth), 404)
    _err(oc.get(f"{theirs}/recordings/r-1/media", auth=other_account.auth), 404)
    _err(
        account.client.get(
            f"/api/v2/accounts/{account.account_id}/calls/c-nosuchcall", auth=account.auth
        ),
        404,
    )


def test_concurrent_call_limit(harness: Any) -> None:
    acct = harness.new_account(**{ratelimit.CONCURRENT_CALLS: 2})
    app_id, tn = _setup(acct)
    url = f"/api/v2/accounts/{acct.account_id}/calls"
    for _ in range(2):
        r = acct.client.post(url, json=_body(app_id, tn), auth=acct.auth)
        assert r.status_code == 201, r.text
    r = acct.client.post(url, json=_body(app_id, tn), auth=acct.auth)
    e = _err(r, 429)
    assert "concurrent call limit" in e["description"]
    assert int(r.headers["Retry-After"]) >= 1
    assert len(acct.client.get(url, auth=acct.auth).json()) == 2


def test_call_queue_limit_and_statistics(harness: Any) -> None:
    acct = harness.new_account(
        **{ratelimit.CALLS_PER_SECOND: 0.5, ratelimit.CALL_QUEUE: 2}
    )  # a call every 2 s; 2 may wait
    app_id, tn = _setup(acct)
    url = f"/api/v2/accounts/{acct.account_id}/calls"
    for _ in range(3):  # the first is dialled at once; two wait
        r = acct.client.post(url, json=_body(app_id, tn), auth=acct.auth)
        assert r.status_code == 201, r.text
    stats = acct.client.get(f"/api/v2/accounts/{acct.account_id}/statistics", auth=acct.auth)
    assert stats.status_code == 200
    assert stats.json()["maxCallQueueSize"] == 2
    assert 1 <= stats.json()["currentCallQueueSize"] <= 2
    r = acct.client.post(url, json=_body(app_id, tn), auth=acct.auth)
    e = _err(r, 429)
    assert "rate limit" in e["description"]
    assert int(r.headers["Retry-After"]) >= 1
    listed = acct.client.get(url, auth=acct.auth).json()
    assert len(listed) == 3
    queued = [c["callId"] for c in listed if c["state"] == "queued"]
    assert queued
    # A queued call ended before its turn: cancelled, and never dialled.
    r = acct.client.post(f"{url}/{queued[0]}", json={"state": "completed"}, auth=acct.auth)
    assert r.status_code == 200, r.text
    state = acct.client.get(f"{url}/{queued[0]}", auth=acct.auth).json()
    assert (state["state"], state["disconnectCause"]) == ("disconnected", "cancel")
    assert state["startTime"] is None
