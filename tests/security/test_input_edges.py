"""Issue 12, items 7 and 11: control characters and other loose edges of the input.

Item 7: a NUL in text, tag, media or a query filter was a 500 on PostgreSQL and a wrong
messageLength on SQLite; a NUL in an autoReply was accepted, then failed every message to that
handset; on the Dashboard a control character in a path or query value was copied into the XML
error document, which lxml refused: a plain-text 500. Item 11: non-ASCII digits passed as a
phone number, duplicate media URLs were echoed, unmatched routes answered FastAPI's
`{"detail":"Not Found"}`, and `errorCode=-1` said "must be between 0 and any".
Each is now the family's 400 (or 404/405), and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.harness import Account, Harness
from tests.support.messaging import provision_sender, random_tn

V2 = "/api/v2"


def _count_messages(acct: Account) -> int:
    r = acct.client.get(
        f"{V2}/users/{acct.account_id}/messages",
        params={"messageDirection": "OUTBOUND"},
        auth=acct.auth,
    )
    assert r.status_code == 200, r.text
    return int(r.json()["totalCount"])


def _validation(r: Any, field: str) -> None:
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["type"] == "request-validation"
    assert field in [f["fieldName"] for f in doc["fieldErrors"]], doc


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("text", {"text": "hi\x00there"}),
        ("text", {"text": "bell\x07"}),
        ("tag", {"tag": "t\x00"}),
        ("media", {"media": ["https://example.com/a\x00.png"]}),
        ("to", {"to": ["+1919555\u0661\u0662\u0663\u0664"]}),  # Arabic-Indic digits
        ("to", {"to": ["+\uff11\uff19\uff11\uff19\uff15\uff15\uff15\uff11\uff12\uff13\uff14"]}),
        ("from", {"from": "+1919555\u0661\u0662\u0663\u0664"}),
    ],
)
def test_hostile_create_is_refused_and_writes_nothing(
    account: Account, field: str, body: dict[str, Any]
) -> None:
    s = provision_sender(account)
    before = _count_messages(account)
    _validation(s.send(**body), field)
    assert _count_messages(account) == before


def test_text_keeps_the_controls_texts_do_carry(account: Account) -> None:
    s = provision_sender(account)
    r = s.send(None, "line one\r\nline\ttwo\x0c")
    assert r.status_code == 202, r.text


def test_a_media_url_given_twice_is_sent_once(account: Account) -> None:
    s = provision_sender(account)
    url = "https://example.com/cat.png"
    r = s.send(None, "pic", media=[url, url, "https://example.com/dog.png", url])
    assert r.status_code == 202, r.text
    assert r.json()["media"] == [url, "https://example.com/dog.png"]


def test_a_nul_in_a_list_filter_is_a_400(account: Account) -> None:
    for params in ({"sourceTn": "+1919\x00555"}, {"carrierName": "x\x00"}, {"tag": "\x00"}):
        r = account.client.get(
            f"{V2}/users/{account.account_id}/messages", params=params, auth=account.auth
        )
        assert r.status_code == 400, r.text
        assert r.json()["type"] == "request-validation"


def test_error_code_below_zero_says_so(account: Account) -> None:
    r = account.client.get(
        f"{V2}/users/{account.account_id}/messages", params={"errorCode": "-1"}, auth=account.auth
    )
    assert r.status_code == 400
    assert r.json()["description"] == "errorCode must be 0 or more"


@pytest.mark.parametrize(
    "path",
    [
        "/inserviceNumbers?areacode=%01",
        "/orders/%01",
        "/sites/%01",
        "/applications/%01",
        "/sites/%01/sippeers/%02/tns",
    ],
)
def test_dashboard_control_characters_are_an_xml_400(account: Account, path: str) -> None:
    r = account.client.get(f"/api/accounts/{account.account_id}{path}", auth=account.auth)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/xml")
    assert b"<ResponseStatus>" in r.content and b"control character" in r.content


def test_a_nul_in_an_auto_reply_is_refused(account: Account) -> None:
    r = account.client.put(
        f"/sim/v1/handsets/{random_tn('984')}",
        json={"mode": "deliver", "autoReply": "hi\x00"},
        auth=account.auth,
    )
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "request-validation"


def test_a_handset_text_with_a_nul_is_refused(account: Account) -> None:
    s = provision_sender(account)
    r = account.client.post(
        "/sim/v1/messages",
        json={"from": random_tn("984"), "to": s.tn, "text": "x\x00"},
        auth=account.auth,
    )
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/nope", "openband"),
        ("/api/v2/nope", "messaging"),
        ("/api/nope/deeper", "dashboard"),
        ("/v1.0/nope", "dashboard"),
        ("/sim/v1/nope", "openband"),
    ],
)
def test_unmatched_routes_answer_in_the_family_shape(
    harness: Harness, path: str, shape: str
) -> None:
    r = harness.client.get(path)
    assert r.status_code == 404
    assert b'"detail"' not in r.content
    if shape == "dashboard":
        assert r.headers["content-type"].startswith("application/xml")
        assert b"<ErrorResponse>" in r.content
    elif shape == "messaging":
        assert r.json()["error"] == "Not Found" and r.json()["path"] == path
    else:
        assert r.json() == {"type": "not-found", "description": "Not Found"}
    wrong_method = harness.client.delete("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["type"] == "method-not-allowed"


def test_a_nul_in_the_basic_username_is_a_401(harness: Harness) -> None:
    import base64

    header = "Basic " + base64.b64encode(b"ali\x00ce:secret").decode()
    for path, shape in (
        ("/api/accounts/1", "xml"),
        ("/api/v2/users/1/messages", "json"),
        ("/sim/v1/handsets/+19845550123", "json"),
    ):
        r = harness.client.get(path, headers={"Authorization": header})
        assert r.status_code == 401, (path, r.text)
        assert ("xml" in r.headers["content-type"]) == (shape == "xml")
