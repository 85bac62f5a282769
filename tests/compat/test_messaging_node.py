"""npm bandwidth-sdk@8.1.4 (Messaging v2 and media) against a live server
(drivers/messaging_node.js), then the callbacks its messages produce at a real webhook sink.

This SDK resolves on any 2xx and validates nothing, so the documented status codes are asserted
from its axios responses. Provisioning and the callback checks are shared with
test_messaging_py.py. Skipped without `node` locally; failing under CI=true.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.compat.conftest import DRIVERS, NODE_MODULES
from tests.compat.results import ctx, step
from tests.compat.test_messaging_py import (
    MessagingSetup,
    check_delivered_callbacks,
    check_handset_to_platform,
    run_messaging_driver,
)
from tests.support.live import LiveServer, missing_tool

pytestmark = [pytest.mark.compat, pytest.mark.xdist_group("compat")]

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def messaging_node_run(live_server: LiveServer) -> tuple[MessagingSetup, dict]:
    node = shutil.which("node")
    if node is None:
        missing_tool("`node` not found: the Node.js compat tests need Node.js and npm")
    if not (NODE_MODULES / "bandwidth-sdk").is_dir():
        missing_tool("npm bandwidth-sdk not installed: run `bash tests/compat/install.sh`")
    return run_messaging_driver(live_server, [node, str(DRIVERS / "messaging_node.js")], "node")


@pytest.fixture(scope="module")
def messaging_node(messaging_node_run: tuple[MessagingSetup, dict]) -> dict:
    return messaging_node_run[1]


@pytest.fixture(scope="module")
def setup_node(messaging_node_run: tuple[MessagingSetup, dict]) -> MessagingSetup:
    return messaging_node_run[0]


def test_upload_media_204(messaging_node: dict) -> None:
    v = step(messaging_node, "media_upload")
    assert v["statuses"] == [204, 204], ctx(messaging_node, "media_upload")
    assert v["bodies"] == ["", ""], ctx(messaging_node, "media_upload")


def test_list_media_200(messaging_node: dict, setup_node: MessagingSetup) -> None:
    v = step(messaging_node, "media_list")
    c = ctx(messaging_node, "media_list")
    assert v["status"] == 200 and v["isArray"], c
    assert set(v["mine"]) == set(v["expected"]), c
    acct = setup_node.server.account_id
    for name, size in v["expected"].items():
        assert v["mine"][name]["contentLength"] == size, c
        assert v["mine"][name]["content"] == (
            f"{setup_node.server.base_url}/api/v2/users/{acct}/media/{name}"
        ), c


def test_get_media_200_same_bytes(messaging_node: dict) -> None:
    v = step(messaging_node, "media_get")
    c = ctx(messaging_node, "media_get")
    assert v["statuses"] == [200, 200], c
    assert v["textEqual"] and v["pngEqual"], c
    assert v["contentTypes"] == ["text/plain", "image/png"], c
    assert v["cacheControl"] == "no-cache", c


def test_delete_media_204(messaging_node: dict) -> None:
    v = step(messaging_node, "media_delete")
    c = ctx(messaging_node, "media_delete")
    assert v["status"] == 204 and v["body"] == "", c
    assert v["getAfterDelete"] == 404, c
    assert v["listedAfterDelete"] is False, c


def _check_message(result: dict, name: str, setup: MessagingSetup, to: list[str]) -> dict:
    v = step(result, name)
    c = ctx(result, name)
    assert v["status"] == 202, c
    assert isinstance(v["id"], str) and v["id"], c
    assert v["direction"] == "out", c
    assert v["segmentCount"] == 1, c  # a JSON number, not "1"
    assert isinstance(v["time"], str) and ISO.match(v["time"]), c
    assert v["to"] == to, c
    assert v["from"] == setup.numbers[0] and v["owner"] == setup.numbers[0], c
    assert v["applicationId"] == setup.app_id, c
    assert v["tag"] == setup.tag, c
    assert v["priority"] in (None, "default"), c
    return v


def test_create_sms_202(messaging_node: dict, setup_node: MessagingSetup) -> None:
    v = _check_message(messaging_node, "sms_create", setup_node, [setup_node.handsets[0]])
    assert v["text"].startswith("sms from npm bandwidth-sdk"), ctx(messaging_node, "sms_create")
    assert v["media"] in (None, []), ctx(messaging_node, "sms_create")


def test_create_mms_202_with_platform_media(
    messaging_node: dict, setup_node: MessagingSetup
) -> None:
    v = _check_message(messaging_node, "mms_create", setup_node, [setup_node.handsets[1]])
    mine = step(messaging_node, "media_list")["mine"]
    png = next(item["content"] for name, item in mine.items() if name.endswith(".png"))
    assert v["media"] == [png], ctx(messaging_node, "mms_create")


def test_create_group_message_202(messaging_node: dict, setup_node: MessagingSetup) -> None:
    _check_message(messaging_node, "group_create", setup_node, setup_node.handsets[1:3])


def test_list_messages_200_by_source_tn(messaging_node: dict, setup_node: MessagingSetup) -> None:
    v = step(messaging_node, "messages_list")
    c = ctx(messaging_node, "messages_list")
    assert v["status"] == 200, c
    assert isinstance(v["totalCount"], int) and v["totalCount"] >= 3, c
    assert isinstance(v["pageInfo"], dict), c
    by_id: dict[str, list[dict]] = {}
    for item in v["items"]:
        by_id.setdefault(item["messageId"], []).append(item)
    kinds = {"sms_create": "sms", "mms_create": "mms", "group_create": "mms"}
    for name, kind in kinds.items():
        sent = step(messaging_node, name)
        rows = by_id.get(sent["id"])
        assert rows, f"{name} id {sent['id']} not listed\n{c}"
        assert {r["destinationTn"] for r in rows} <= set(sent["to"]), c
        for r in rows:
            assert r["sourceTn"] == setup_node.numbers[0], c
            assert r["accountId"] == setup_node.server.account_id, c
            assert r["messageDirection"] == "OUTBOUND" and r["messageType"] == kind, c
            assert r["messageStatus"] in {"QUEUED", "SENDING", "SENT", "DELIVERED", "ACCEPTED"}, c
            assert isinstance(r["segmentCount"], int), c
            assert ISO.match(r["receiveTime"]), c
    assert all(item["sourceTn"] == setup_node.numbers[0] for item in v["items"]), c


def test_bad_from_rejects_400(messaging_node: dict) -> None:
    v = step(messaging_node, "error_bad_from")
    c = ctx(messaging_node, "error_bad_from")
    assert v["rejected"] and v["isAxiosError"] and v["status"] == 400, c
    body = v["data"]
    assert body["type"] == "request-validation" and body["description"], c
    assert [f["fieldName"] for f in body["fieldErrors"]] == ["from"], c
    assert all(f["description"] for f in body["fieldErrors"]), c


def test_wrong_password_rejects_401(messaging_node: dict) -> None:
    v = step(messaging_node, "error_unauthorized")
    c = ctx(messaging_node, "error_unauthorized")
    for call in ("create", "list"):
        got = v[call]
        assert got["rejected"] and got["status"] == 401, c
        assert got["data"]["type"] == "unauthorized" and got["data"]["description"], c


def test_sdk_messages_get_delivered_callbacks(
    messaging_node: dict, setup_node: MessagingSetup
) -> None:
    sent = {}
    for name in ("sms_create", "mms_create", "group_create"):
        v = step(messaging_node, name)
        sent[v["id"]] = v["to"]
    check_delivered_callbacks(setup_node, sent)


def test_handset_message_reaches_inbound_callback(
    messaging_node: dict, setup_node: MessagingSetup
) -> None:
    check_handset_to_platform(setup_node)
