"""Applications: /accounts/{accountId}/applications[/{id}[/associatedsippeers]].

Wire only: XML documents in and out; the rules are in core.provisioning. Passwords are accepted
in every *Creds element and never written back; so is OpenBand's own <OpenBandSigningSecret>, the
key of the callbacks' signature (docs/webhooks.md), which Bandwidth's documents do not have.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from pydantic_xml import element, wrapped
from starlette.requests import Request
from starlette.responses import Response

from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, body_doc, location, principal
from openband.api.dashboard.xml import XmlDoc, xml, xml_response
from openband.core import provisioning as core

router = DashboardRouter()
ROOT = "ApplicationProvisioningResponse"


class CredsDoc(XmlDoc, tag="Creds"):
    user_id: str | None = element(tag="UserId", default=None)
    password: str | None = element(tag="Password", default=None)


def _creds(tag: str) -> Any:
    return element(tag=tag, default=None)


class ApplicationDoc(XmlDoc, tag="Application"):
    """Request and response body; ApplicationId is output only."""

    application_id: str | None = element(tag="ApplicationId", default=None)
    service_type: str | None = element(tag="ServiceType", default=None)
    app_name: str | None = element(tag="AppName", default=None)
    # messaging
    msg_callback_url: str | None = element(tag="MsgCallbackUrl", default=None)
    callback_url: str | None = element(tag="CallbackUrl", default=None)
    inbound_callback_url: str | None = element(tag="InboundCallbackUrl", default=None)
    outbound_callback_url: str | None = element(tag="OutboundCallbackUrl", default=None)
    msg_callback_creds: CredsDoc | None = _creds("MsgCallbackCreds")
    inbound_callback_creds: CredsDoc | None = _creds("InboundCallbackCreds")
    outbound_callback_creds: CredsDoc | None = _creds("OutboundCallbackCreds")
    requested_callback_types: list[str] | None = wrapped(
        "RequestedCallbackTypes", element(tag="CallbackType", default=None)
    )
    # voice
    call_initiated_callback_url: str | None = element(tag="CallInitiatedCallbackUrl", default=None)
    call_initiated_method: str | None = element(tag="CallInitiatedMethod", default=None)
    call_status_callback_url: str | None = element(tag="CallStatusCallbackUrl", default=None)
    call_status_method: str | None = element(tag="CallStatusMethod", default=None)
    # CallbackCreds serves both families (voice callbacks; deprecated messaging callbacks).
    callback_creds: CredsDoc | None = _creds("CallbackCreds")
    call_initiated_fallback_url: str | None = element(tag="CallInitiatedFallbackUrl", default=None)
    call_initiated_fallback_method: str | None = element(
        tag="CallInitiatedFallbackMethod", default=None
    )
    call_initiated_fallback_creds: CredsDoc | None = _creds("CallInitiatedFallbackCreds")
    callback_timeout: str | None = element(tag="CallbackTimeout", default=None)
    # OpenBand's extension, input only: set, keep (absent) or 'remove' the signing secret.
    signing_secret: str | None = element(tag=core.SIGNING_SECRET_ELEMENT, default=None)


class ApplicationResponse(XmlDoc, tag=ROOT):
    application: ApplicationDoc


def to_input(doc: ApplicationDoc) -> core.ApplicationInput:
    config: dict[str, Any] = {}
    for key in core.CONFIG_KEYS:
        value = getattr(doc, key)
        if isinstance(value, CredsDoc):
            value = core.Credentials(value.user_id or "", value.password or "")
        if value is not None:
            config[key] = value
    return core.ApplicationInput(service_type=doc.service_type, name=doc.app_name, config=config)


def _user_only(creds: core.Credentials | None) -> CredsDoc | None:
    # Only the UserId is ever echoed.
    return CredsDoc(user_id=creds.user) if creds is not None and creds.user else None


def to_doc(row: core.ApplicationRow) -> ApplicationDoc:
    # Nothing secret is shown, so nothing is opened.
    config = core.ApplicationConfig.redacted(row.service_type, row.config)
    m, v = config.messaging, config.voice
    timeout = v.callback_timeout
    return ApplicationDoc(
        application_id=row.id,
        service_type=row.service_type,
        app_name=row.name,
        msg_callback_url=m.msg_callback_url,
        callback_url=m.callback_url,
        inbound_callback_url=m.inbound_callback_url,
        outbound_callback_url=m.outbound_callback_url,
        msg_callback_creds=_user_only(m.msg_callback_creds),
        inbound_callback_creds=_user_only(m.inbound_creds),
        outbound_callback_creds=_user_only(m.outbound_creds),
        requested_callback_types=list(m.requested_callback_types) or None,
        call_initiated_callback_url=v.call_initiated_callback_url,
        call_initiated_method=v.call_initiated_method,
        call_status_callback_url=v.call_status_callback_url,
        call_status_method=v.call_status_method,
        callback_creds=_user_only(v.callback_creds),
        call_initiated_fallback_url=v.call_initiated_fallback_url,
        call_initiated_fallback_method=v.call_initiated_fallback_method,
        call_initiated_fallback_creds=_user_only(v.call_initiated_fallback_creds),
        callback_timeout=None if timeout is None else str(core.compact_seconds(timeout)),
    )


def _single(row: core.ApplicationRow, status: int = 200, headers: dict | None = None) -> Response:
    return xml_response(ApplicationResponse(application=to_doc(row)), status, headers)


def list_document(root: str, container: str, items: list[XmlDoc]) -> Response:
    """A list response whose container element is present even when empty (the SDKs index it)."""
    doc = etree.Element(root)
    holder = etree.SubElement(doc, container)
    for item in items:
        holder.append(item.to_xml_tree(skip_empty=True))
    return xml(doc)


@router.xml("GET", "/accounts/{account_id}/applications", ROOT)
async def list_applications(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    rows = await ctx(request).read(core.list_applications, account_id)
    return list_document(ROOT, "ApplicationList", [to_doc(r) for r in rows])


@router.xml("POST", "/accounts/{account_id}/applications", ROOT)
async def create_application(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, ApplicationDoc)
    p = ctx(request)
    row = await p.write(core.create_application, account_id, to_input(doc), sealer=p.sealer)
    headers = location(request, f"/accounts/{account_id}/applications/{row.id}")
    return _single(row, 201, headers)


@router.xml("GET", "/accounts/{account_id}/applications/{app_id}", ROOT)
async def get_application(request: Request, account_id: str, app_id: str) -> Response:
    await principal(request, account_id)
    row = await ctx(request).read(core.get_application, account_id, app_id)
    return _single(row)


@router.xml("PUT", "/accounts/{account_id}/applications/{app_id}", ROOT)
async def replace_application(request: Request, account_id: str, app_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, ApplicationDoc)
    p = ctx(request)
    row = await p.write(
        core.replace_application, account_id, app_id, to_input(doc), sealer=p.sealer
    )
    return _single(row)


@router.xml("PATCH", "/accounts/{account_id}/applications/{app_id}", ROOT)
async def patch_application(request: Request, account_id: str, app_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, ApplicationDoc)
    p = ctx(request)
    row = await p.write(core.patch_application, account_id, app_id, to_input(doc), sealer=p.sealer)
    return _single(row)


@router.xml("DELETE", "/accounts/{account_id}/applications/{app_id}", ROOT)
async def delete_application(request: Request, account_id: str, app_id: str) -> Response:
    await principal(request, account_id)
    await ctx(request).write(core.delete_application, account_id, app_id)
    return xml_response(None, 200)


class AssociatedSipPeerDoc(XmlDoc, tag="AssociatedSipPeer"):
    site_id: int = element(tag="SiteId")
    site_name: str = element(tag="SiteName")
    peer_id: int = element(tag="PeerId")
    peer_name: str = element(tag="PeerName")


@router.xml(
    "GET",
    "/accounts/{account_id}/applications/{app_id}/associatedsippeers",
    "AssociatedSipPeersResponse",
)
async def associated_sippeers(request: Request, account_id: str, app_id: str) -> Response:
    await principal(request, account_id)
    peers = await ctx(request).read(core.associated_peers, account_id, app_id)
    items = [
        AssociatedSipPeerDoc(
            site_id=p.site_id, site_name=p.site_name, peer_id=p.peer_id, peer_name=p.peer_name
        )
        for p in peers
    ]
    return list_document("AssociatedSipPeersResponse", "AssociatedSipPeers", items)
