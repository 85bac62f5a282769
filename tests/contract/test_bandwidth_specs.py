"""Bandwidth's own OpenAPI specs (messaging, numbers) against a live `openband serve`, on SQLite
and PostgreSQL, with schemathesis generating the requests.

For every operation of the specs that OpenBand serves, a bounded number of requests is generated
from the spec (deterministically: the same requests every run), sent with a real account's
Basic credentials, and each answer is checked: never a 5xx, and it conforms to the spec (status
code documented, content type, headers, body schema). About half the requests are steered onto
real code paths: the path's ids are those of an application, site, location, order, number and
media object provisioned first, and a message's `from`, `applicationId` and `to` are a real
sender, its application and a handset. Every media URL a request names is pinned to a local file
server, so nothing is fetched from outside.

What does not conform is either a deliberate deviation (docs/compat-notes.md says why) or a bug to
fix; both are listed in KNOWN with their reason. Anything else fails the test, and so does a
KNOWN entry that no longer happens (the list must shrink as fixes land).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from lxml import etree
from schemathesis import checks as sc

from tests.support.cluster import Receiver, application_xml, handset, provision_messaging
from tests.support.live import BACKENDS, LiveServer, shared_server
from tests.support.seed004 import CREATE_SIPPEER, CREATE_SITE, ENABLE_MMS, ENABLE_SMS

SPECS = Path(__file__).parent / "specs"
EXAMPLES = 12  # generated requests per operation and backend: a few minutes in all
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(48))

CHECKS = [
    sc.not_a_server_error,
    sc.status_code_conformance,
    sc.content_type_conformance,
    sc.response_headers_conformance,
    sc.response_schema_conformance,
]

# The operations of each spec that OpenBand serves (the rest answer 404: not implemented).
SERVED: dict[str, set[str]] = {
    "api-docs-messaging.yml": {
        "GET /users/{accountId}/media",
        "GET /users/{accountId}/media/{mediaId}",
        "PUT /users/{accountId}/media/{mediaId}",
        "DELETE /users/{accountId}/media/{mediaId}",
        "GET /users/{accountId}/messages",
        "POST /users/{accountId}/messages",
    },
    "api-docs-numbers.yml": {
        "GET /accounts/{accountId}",
        "GET /accounts/{accountId}/applications",
        "POST /accounts/{accountId}/applications",
        "GET /accounts/{accountId}/applications/{applicationId}",
        "PUT /accounts/{accountId}/applications/{applicationId}",
        "PATCH /accounts/{accountId}/applications/{applicationId}",
        "DELETE /accounts/{accountId}/applications/{applicationId}",
        "GET /accounts/{accountId}/availableNumbers",
        "GET /accounts/{accountId}/disconnects",
        "POST /accounts/{accountId}/disconnects",
        "GET /accounts/{accountId}/disconnects/{disconnectId}",
        "GET /accounts/{accountId}/inserviceNumbers",
        "GET /accounts/{accountId}/inserviceNumbers/totals",
        "GET /accounts/{accountId}/inserviceNumbers/{tn}",
        "GET /accounts/{accountId}/orders",
        "POST /accounts/{accountId}/orders",
        "GET /accounts/{accountId}/orders/totals",
        "GET /accounts/{accountId}/orders/{orderId}",
        "GET /accounts/{accountId}/orders/{orderId}/history",
        "GET /accounts/{accountId}/orders/{orderId}/tns",
        "GET /accounts/{accountId}/sites",
        "POST /accounts/{accountId}/sites",
        "GET /accounts/{accountId}/sites/{siteId}",
        "PUT /accounts/{accountId}/sites/{siteId}",
        "DELETE /accounts/{accountId}/sites/{siteId}",
        "GET /accounts/{accountId}/sites/{siteId}/inserviceNumbers",
        "GET /accounts/{accountId}/sites/{siteId}/sippeers",
        "POST /accounts/{accountId}/sites/{siteId}/sippeers",
        "GET /accounts/{accountId}/sites/{siteId}/sippeers/{sipPeerId}",
        "PUT /accounts/{accountId}/sites/{siteId}/sippeers/{sipPeerId}",
        "DELETE /accounts/{accountId}/sites/{siteId}/sippeers/{sipPeerId}",
        *(
            f"{m} /accounts/{{accountId}}/sites/{{siteId}}/sippeers/{{sipPeerId}}/products/{p}"
            for m, p in (
                ("GET", "messaging/applicationSettings"),
                ("PUT", "messaging/applicationSettings"),
                ("GET", "messaging/features/sms"),
                ("POST", "messaging/features/sms"),
                ("PUT", "messaging/features/sms"),
                ("DELETE", "messaging/features/sms"),
                ("GET", "messaging/features/mms"),
                ("POST", "messaging/features/mms"),
                ("PUT", "messaging/features/mms"),
                ("DELETE", "messaging/features/mms"),
                ("GET", "origination/settings"),
                ("POST", "origination/settings"),
                ("PUT", "origination/settings"),
            )
        ),
        "GET /tns",
        "GET /tns/{tn}",
        "GET /tns/{tn}/sites",
        "GET /tns/{tn}/sippeers",
        "GET /tns/{tn}/ratecenter",
        "GET /tns/{tn}/lata",
        "GET /tns/{tn}/tndetails",
    },
}
BASE_PATH = {"api-docs-messaging.yml": "/api/v2", "api-docs-numbers.yml": "/api/v1"}

PEER = "/accounts/{accountId}/sites/{siteId}/sippeers/{sipPeerId}"

# --- what does not conform, and why (docs/compat-notes.md, "Contract tests") -------------------
# Keys: (operation, schemathesis's failure title, HTTP status).

SPRING_404 = (
    "deliberate: an unknown media id is answered as Bandwidth's messaging gateway does, with "
    "Spring Boot's 404 body {timestamp, status, error, message, path}, not the spec's "
    "MessagingRequestError {type, description}"
)
NO_BODY_204 = "deliberate: a 204 has no body, so no Content-Type (the spec names application/xml)"
MEDIA_TYPE = (
    "deliberate: media is served with the Content-Type it was uploaded with (image/png, ...), "
    "as Bandwidth serves it and the SDKs expect; the spec names only application/octet-stream"
)
UNDOCUMENTED_4XX = (
    "deliberate: the numbers spec lists only some error statuses per operation; OpenBand "
    "answers a malformed id or document 400, a missing resource (or another account's) 404 and "
    "a conflict 409, each in Bandwidth's XML error shape, as Bandwidth's own servers do"
)
# The undocumented statuses seen, per operation (a new one fails the test until it is judged).
UNDOCUMENTED_STATUSES: dict[str, tuple[int, ...]] = {
    "POST /accounts/{accountId}/applications": (400,),
    "DELETE /accounts/{accountId}/applications/{applicationId}": (400, 404, 409),
    "GET /accounts/{accountId}/applications/{applicationId}": (400, 404),
    "PATCH /accounts/{accountId}/applications/{applicationId}": (400,),
    "PUT /accounts/{accountId}/applications/{applicationId}": (400,),
    "GET /accounts/{accountId}/disconnects": (400,),
    "GET /accounts/{accountId}/disconnects/{disconnectId}": (400, 404),
    "GET /accounts/{accountId}/inserviceNumbers": (400,),
    "GET /accounts/{accountId}/inserviceNumbers/{tn}": (400,),
    "GET /accounts/{accountId}/orders/totals": (400,),
    "GET /accounts/{accountId}/orders/{orderId}": (400, 404),
    "GET /accounts/{accountId}/orders/{orderId}/history": (400,),
    "GET /accounts/{accountId}/orders/{orderId}/tns": (400, 404),
    "DELETE /accounts/{accountId}/sites/{siteId}": (404,),
    "GET /accounts/{accountId}/sites/{siteId}": (400,),
    "GET /accounts/{accountId}/sites/{siteId}/inserviceNumbers": (400, 404),
    "GET /accounts/{accountId}/sites/{siteId}/sippeers": (400, 404),
    f"GET {PEER}": (404,),
    f"GET {PEER}/products/messaging/applicationSettings": (400, 404),
    f"PUT {PEER}/products/messaging/applicationSettings": (400,),
    f"DELETE {PEER}/products/messaging/features/mms": (400,),
    f"GET {PEER}/products/messaging/features/mms": (400, 404),
    f"POST {PEER}/products/messaging/features/mms": (409,),
    f"PUT {PEER}/products/messaging/features/mms": (400,),
    f"GET {PEER}/products/messaging/features/sms": (400, 404),
    f"POST {PEER}/products/messaging/features/sms": (404, 409),
    f"PUT {PEER}/products/messaging/features/sms": (404,),
    f"GET {PEER}/products/origination/settings": (400, 404),
    f"PUT {PEER}/products/origination/settings": (400,),
    "GET /tns": (404,),
    "GET /tns/{tn}": (400, 404),
    "GET /tns/{tn}/lata": (400, 404),
    "GET /tns/{tn}/ratecenter": (400, 404),
    "GET /tns/{tn}/sippeers": (400, 404),
    "GET /tns/{tn}/sites": (400, 404),
    "GET /tns/{tn}/tndetails": (404,),
}
DELIBERATE: dict[tuple[str, str, int], str] = {
    ("GET /users/{accountId}/media/{mediaId}", "Response violates schema", 404): SPRING_404,
    ("DELETE /users/{accountId}/media/{mediaId}", "Response violates schema", 404): SPRING_404,
    ("GET /users/{accountId}/media/{mediaId}", "Undocumented Content-Type", 200): MEDIA_TYPE,
    ("GET /accounts/{accountId}/inserviceNumbers", "Missing Content-Type header", 204): NO_BODY_204,
    **{
        (op, "Undocumented status code", status): UNDOCUMENTED_4XX
        for op, statuses in UNDOCUMENTED_STATUSES.items()
        for status in statuses
    },
}
# Bugs (every 5xx, every other non-conformance): each entry says what is wrong and which request
# shows it, and goes when the fix lands (the test fails while an entry no longer happens).
# None found on either backend so far.
KNOWN_BUGS: dict[tuple[str, str, int], str] = {}


_ORDER = {"GET": 0, "PUT": 1, "PATCH": 2, "POST": 3, "DELETE": 4}


def _operations() -> Iterator[tuple[str, str]]:
    """Reads and writes before deletes: the provisioned resources are there for most."""
    for spec, labels in SERVED.items():
        for label in sorted(labels, key=lambda lb: (_ORDER[lb.split()[0]], lb)):
            yield spec, label


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return {name: schemathesis.openapi.from_path(SPECS / name) for name in SERVED}


@pytest.fixture(scope="module")
def media_server() -> Iterator[Receiver]:
    with Receiver() as rx:
        yield rx


@dataclass
class Contract:
    """A live server of its own (the fuzzer deletes and changes things), its account's real
    resources, and the local media server every media URL is pinned to."""

    server: LiveServer
    backend: str
    media_url: str
    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> a real value
    number: str = ""  # E.164, a sender of the account
    app_id: str = ""
    # operation -> answers by status: what the requests reached (printed with -s)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class Finding:
    operation: str
    title: str
    status: int
    message: str
    curl: str


@pytest.fixture(scope="module", params=BACKENDS)
def contract(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    media_server: Receiver,
) -> Contract:
    server = shared_server(request.param, tmp_path_factory, name="contract")
    media_url = media_server.serve_file("/contract/cat.png", PNG, "image/png")
    ctx = Contract(server, request.param, media_url)
    with server.client() as c:
        msg = provision_messaging(
            c, server.account_id, media_server.url("/contract/cb"), None, quantity=2
        )
        r = c.put(
            f"/api/v2/users/{server.account_id}/media/contract.png",
            content=PNG,
            headers={"Content-Type": "image/png"},
        )
        assert r.status_code == 204, r.text
        r = c.post(
            f"/api/v2/users/{server.account_id}/messages",
            json=msg.message(handset(), "contract"),
        )
        assert r.status_code == 202, r.text
        message_id = r.json()["id"]
        r = c.get(f"/api/accounts/{server.account_id}/orders")
        ids = [
            e.text for e in etree.fromstring(r.content).iter() if str(e.tag).lower() == "orderid"
        ]
        assert ids and ids[0], r.text  # the order provision_messaging placed
    tn = msg.numbers[0].removeprefix("+1")
    ctx.number, ctx.app_id = msg.numbers[0], msg.app_id
    ctx.ids = {
        "applicationId": msg.app_id,
        "siteId": msg.site_id,
        "sipPeerId": msg.peer_id,
        "sippeerId": msg.peer_id,
        "orderId": str(ids[0]),
        "tn": tn,
        "mediaId": "contract.png",
        "messageId": message_id,
    }
    return ctx


def valid_xml(label: str, ctx: Contract) -> str | None:
    """A valid Dashboard document for a write (generated XML is nearly always refused at once),
    so steered writes reach the rules behind the parser. Disconnects are left alone: a valid one
    would take the sender's number away."""
    app = application_xml("contract", ctx.media_url, None, ctx.media_url, None)
    link = (
        "<ApplicationsSettings><HttpMessagingV2AppId>"
        f"{ctx.app_id}</HttpMessagingV2AppId></ApplicationsSettings>"
    )
    order = (
        "<Order><AreaCodeSearchAndOrderType><AreaCode>919</AreaCode><Quantity>1</Quantity>"
        f"</AreaCodeSearchAndOrderType><SiteId>{ctx.ids['siteId']}</SiteId>"
        f"<PeerId>{ctx.ids['sipPeerId']}</PeerId></Order>"
    )
    return {
        "POST /accounts/{accountId}/applications": app,
        "PUT /accounts/{accountId}/applications/{applicationId}": app,
        "PATCH /accounts/{accountId}/applications/{applicationId}": (
            "<Application><AppName>patched</AppName></Application>"
        ),
        "POST /accounts/{accountId}/orders": order,
        "POST /accounts/{accountId}/sites": CREATE_SITE,
        "PUT /accounts/{accountId}/sites/{siteId}": CREATE_SITE,
        "POST /accounts/{accountId}/sites/{siteId}/sippeers": CREATE_SIPPEER,
        f"PUT {PEER}": CREATE_SIPPEER,
        f"PUT {PEER}/products/messaging/applicationSettings": link,
        f"POST {PEER}/products/messaging/features/sms": ENABLE_SMS,
        f"PUT {PEER}/products/messaging/features/sms": ENABLE_SMS,
        f"POST {PEER}/products/messaging/features/mms": ENABLE_MMS,
        f"PUT {PEER}/products/messaging/features/mms": ENABLE_MMS,
    }.get(label)


def real_query(label: str, ctx: Contract) -> dict[str, Any]:
    """The query of a steered GET: a search that finds something, else none (generated
    filters are nearly always refused)."""
    return {
        "GET /users/{accountId}/messages": {"messageId": ctx.ids["messageId"]},
        "GET /accounts/{accountId}/availableNumbers": {"areaCode": "919", "quantity": 2},
        "GET /accounts/{accountId}/inserviceNumbers": {"npa": "919"},
        "GET /accounts/{accountId}/orders": {"status": "COMPLETE"},
        "GET /tns": {"npa": "919"},
    }.get(label, {})


def _printable(value: object) -> bool:
    return isinstance(value, str) and value.isprintable()


def steer(case: schemathesis.Case, ctx: Contract, label: str, real: bool) -> str | None:
    """Always: this account, and media URLs pinned to the local server. When `real`: real ids
    in the path, a real sender, application and handset in a message (with a text, and no
    expiration in the past), and a valid document for a Dashboard write, which is returned (the
    caller sends it in place of the generated body)."""
    params = case.path_parameters or {}
    if "accountId" in params:
        params["accountId"] = ctx.server.account_id
    if real:
        for name in params:
            if ctx.ids.get(name):
                params[name] = ctx.ids[name]
        if case.method == "GET":
            case.query = real_query(label, ctx)
    body = case.body
    if isinstance(body, dict) and label == "POST /users/{accountId}/messages":
        if isinstance(body.get("media"), list):
            # Distinct URLs of the one local file (the path is what the server serves).
            body["media"] = [f"{ctx.media_url}?n={i}" for i, _ in enumerate(body["media"])]
        if real:
            body["from"] = ctx.number
            body["applicationId"] = ctx.app_id
            body["to"] = [handset()]
            if not (_printable(body.get("text")) and body["text"].strip()):
                body["text"] = "contract test"
            body.pop("expiration", None)
            if not _printable(body.get("tag")):
                body.pop("tag", None)
            if isinstance(body.get("media"), list):
                body["media"] = body["media"][:10]
    return valid_xml(label, ctx) if real else None


def run_operation(schema: Any, label: str, base_url: str, ctx: Contract) -> list[Finding]:
    op = schema.find_operation_by_label(label)
    assert op is not None, f"{label} is not in the spec"
    findings: list[Finding] = []
    turn = itertools.count()  # every other request of the operation is steered
    session = requests.Session()
    session.auth = ctx.server.auth

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy())
    def one(case: schemathesis.Case) -> None:
        document = steer(case, ctx, label, next(turn) % 2 == 0)
        if document is None:
            response = case.call(base_url=base_url, session=session, timeout=30)
        else:
            response = session.request(
                case.method,
                base_url + case.formatted_path,
                params=case.query,
                data=document.encode(),
                headers={"Content-Type": "application/xml; charset=utf-8"},
                timeout=30,
            )
        ctx.statuses[label][response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except BaseExceptionGroup as group:  # schemathesis's FailureGroup
            for failure in group.exceptions:
                findings.append(
                    Finding(
                        label,
                        getattr(failure, "title", type(failure).__name__) or "",
                        response.status_code,
                        (getattr(failure, "message", "") or str(failure))[:600],
                        case.as_curl_command(headers={"Authorization": "Basic …"}),
                    )
                )

    one()
    return findings


@pytest.mark.parametrize(("spec", "label"), list(_operations()), ids=lambda v: str(v))
def test_operation_conforms(
    contract: Contract, schemas: dict[str, Any], spec: str, label: str
) -> None:
    started = time.monotonic()
    base_url = contract.server.base_url + BASE_PATH[spec]
    findings = run_operation(schemas[spec], label, base_url, contract)
    print(f"{contract.backend} {label}: {dict(sorted(contract.statuses[label].items()))}")
    seen: dict[tuple[str, str, int], Finding] = {}
    for f in findings:
        seen.setdefault((f.operation, f.title, f.status), f)
    new = {k: f for k, f in seen.items() if k not in DELIBERATE and k not in KNOWN_BUGS}
    fixed = [k for k in KNOWN_BUGS if k[0] == label and k not in seen]
    report = "\n\n".join(
        f"{k[0]} -> {k[2]}: {k[1]}\n  {f.message}\n  reproduce: {f.curl}" for k, f in new.items()
    )
    assert not new, f"{len(new)} new non-conformances ({contract.backend}):\n{report}"
    assert not fixed, f"KNOWN_BUGS entries that no longer happen (remove them): {fixed}"
    assert time.monotonic() - started < 120  # the suite stays a few minutes in all
