"""Issue 12, items 4 and 6: the simulator's handsets between two accounts.

Item 4: bob's `PUT /sim/v1/handsets/{n} {"mode":"fail","errorCode":4720}` made alice's messages
to that handset fail, his autoReply text reached alice's app, and he could read and delete her
scripts. A script now applies to the account that set it; the operator's platform-wide default
applies to every account that has none.
Item 6: /sim/v1 answered differently for numbers on the platform (400 "on-net" vs 200; 403 vs
404): which numbers exist leaked. Every number the caller does not own now answers alike.
"""

from __future__ import annotations

from typing import Any

from openband.core import simulator
from openband.network.sim import Behaviour
from tests.support.harness import Account
from tests.support.messaging import provision_sender, random_tn

V2 = "/api/v2"


def _handset() -> str:
    return random_tn("984")


def _put(acct: Account, tn: str, **body: Any) -> Any:
    return acct.client.put(f"/sim/v1/handsets/{tn}", json=body, auth=acct.auth)


def _status(acct: Account, message_id: str) -> dict[str, Any]:
    def done() -> bool:
        r = acct.client.get(
            f"{V2}/users/{acct.account_id}/messages",
            params={"messageId": message_id},
            auth=acct.auth,
        )
        items = r.json()["messages"]
        found.clear()
        found.extend(items)
        return bool(items) and items[0]["messageStatus"] in ("DELIVERED", "FAILED")

    found: list[dict[str, Any]] = []
    acct.harness.wait_for(done)
    return found[0]


def _inbound(acct: Account, sender: str) -> list[dict[str, Any]]:
    r = acct.client.get(
        f"{V2}/users/{acct.account_id}/messages",
        params={"sourceTn": sender, "messageDirection": "INBOUND"},
        auth=acct.auth,
    )
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def test_bobs_script_does_not_touch_alices_messages(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    h = _handset()
    assert _put(bob, h, mode="fail", errorCode=4720, autoReply="bob says hi").status_code == 200
    a = provision_sender(alice)
    sent = a.send([h], "hello from alice").json()["id"]
    assert _status(alice, sent)["messageStatus"] == "DELIVERED"
    assert _inbound(alice, h) == []  # bob's autoReply never reaches alice's app
    b = provision_sender(bob)
    failed = _status(bob, b.send([h], "hello from bob").json()["id"])
    assert failed["messageStatus"] == "FAILED" and failed["errorCode"] == 4720


def test_scripts_are_read_and_deleted_by_their_owner_only(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    h = _handset()
    assert _put(alice, h, mode="opt_out").status_code == 200
    seen = bob.client.get(f"/sim/v1/handsets/{h}", auth=bob.auth).json()
    assert seen["mode"] == "deliver" and seen["scripted"] is False
    assert bob.client.delete(f"/sim/v1/handsets/{h}", auth=bob.auth).status_code == 204
    mine = alice.client.get(f"/sim/v1/handsets/{h}", auth=alice.auth).json()
    assert mine["mode"] == "opt_out" and mine["scripted"] is True


def test_the_operators_default_applies_where_an_account_has_none(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    h = _handset()

    async def set_default(db: Any) -> None:
        async with db.begin() as conn:
            await simulator.set_default(conn, h, Behaviour("fail", 4750))

    alice.harness.run(set_default)
    assert _put(alice, h, mode="deliver").status_code == 200  # alice's own comes first
    a, b = provision_sender(alice), provision_sender(bob)
    assert _status(alice, a.send([h]).json()["id"])["messageStatus"] == "DELIVERED"
    failed = _status(bob, b.send([h]).json()["id"])
    assert failed["messageStatus"] == "FAILED" and failed["errorCode"] == 4750
    assert bob.client.get(f"/sim/v1/handsets/{h}", auth=bob.auth).json()["errorCode"] == 4750

    async def reset(db: Any) -> bool:
        async with db.begin() as conn:
            return await simulator.reset_default(conn, h)

    assert alice.harness.run(reset) is True


def test_another_accounts_number_answers_like_any_handset(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    alices_number = provision_sender(alice).tn
    nobodys = random_tn("919")
    for tn in (alices_number, nobodys):
        got = bob.client.get(f"/sim/v1/handsets/{tn}", auth=bob.auth)
        assert got.status_code == 200, got.text
        assert got.json() | {"number": ""} == {
            "number": "",
            "mode": "deliver",
            "errorCode": None,
            "delaySeconds": 0.0,
            "autoReply": None,
            "autoReplyDelaySeconds": 0.0,
            "reserved": False,
            "scripted": False,
            "failureCode": None,
            "call": None,
        }
        assert _put(bob, tn, mode="opt_out").status_code == 200
        assert bob.client.delete(f"/sim/v1/handsets/{tn}", auth=bob.auth).status_code == 204
    # alice's own number is hers: not a handset to her
    assert alice.client.get(f"/sim/v1/handsets/{alices_number}", auth=alice.auth).status_code == 400

    def texting(to: str) -> Any:
        return bob.client.post(
            "/sim/v1/messages", json={"from": _handset(), "to": to, "text": "x"}, auth=bob.auth
        )

    on_net, off_net = texting(alices_number), texting(nobodys)
    assert on_net.status_code == off_net.status_code == 404
    assert on_net.json()["description"].replace(alices_number, "N") == off_net.json()[
        "description"
    ].replace(nobodys, "N")


def test_any_number_not_yours_may_be_a_handset_that_texts_you(
    account: Account, other_account: Account
) -> None:
    alice, bob = account, other_account
    alices_number = provision_sender(alice).tn
    bobs = provision_sender(bob)
    for sender in (alices_number, random_tn("919")):
        r = bob.client.post(
            "/sim/v1/messages",
            json={"from": sender, "to": bobs.tn, "text": "hi bob"},
            auth=bob.auth,
        )
        assert r.status_code == 202, r.text
    assert _inbound(alice, bobs.tn) == []  # nothing is written on alice's side
    second = provision_sender(bob)
    own = bob.client.post(
        "/sim/v1/messages", json={"from": bobs.tn, "to": second.tn, "text": "x"}, auth=bob.auth
    )
    assert own.status_code == 400 and "number of your account" in own.json()["description"]
