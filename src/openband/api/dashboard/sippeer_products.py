"""A location's products: messaging (SMS, MMS, application link) and voice origination.

…/sites/{siteId}/sippeers/{peerId}/products/messaging/{features/sms,features/mms,applicationSettings}
and …/products/origination/settings. Wire only; rules are in core.provisioning.

Two wire quirks are kept on purpose (see docs/compat-notes.md): MMS answers spell `<protocol>` and
`<proxyPeerId>` in lower camel case as Bandwidth does, and the application link is answered under
both `<ApplicationsSettings>` (spec, guides) and `<ApplicationSettings>` (what @bandwidth/numbers
reads).
"""

from __future__ import annotations

from lxml import etree
from pydantic_xml import element
from starlette.requests import Request
from starlette.responses import Response

from openband.api.body import read_body
from openband.api.context import ctx
from openband.api.dashboard.routing import DashboardRouter, body_doc, principal
from openband.api.dashboard.xml import XmlDoc, parse_doc, xml, xml_response
from openband.core import provisioning as core
from openband.errors import InvalidInput

router = DashboardRouter()

PEER = "/accounts/{account_id}/sites/{site_id}/sippeers/{peer_id}"
SMS = PEER + "/products/messaging/features/sms"
MMS = PEER + "/products/messaging/features/mms"
APP_SETTINGS = PEER + "/products/messaging/applicationSettings"
ORIGINATION = PEER + "/products/origination/settings"


def _b(value: bool) -> str:
    return "true" if value else "false"


# --- SMS ---------------------------------------------------------------------------------------


class SmsSettingsDoc(XmlDoc, tag="SipPeerSmsFeatureSettings"):
    toll_free: str | None = element(tag="TollFree", default=None)
    short_code: str | None = element(tag="ShortCode", default=None)
    a2p_long_code: str | None = element(tag="A2pLongCode", default=None)
    a2p_message_class: str | None = element(tag="A2pMessageClass", default=None)
    a2p_campaign_id: str | None = element(tag="A2pCampaignId", default=None)
    protocol: str | None = element(tag="Protocol", default=None)
    zone1: str | None = element(tag="Zone1", default=None)
    zone2: str | None = element(tag="Zone2", default=None)
    zone3: str | None = element(tag="Zone3", default=None)
    zone4: str | None = element(tag="Zone4", default=None)
    zone5: str | None = element(tag="Zone5", default=None)


class SmsHttpSettingsDoc(XmlDoc, tag="HttpSettings"):
    proxy_peer_id: str | None = element(tag="ProxyPeerId", default=None)


class SmsFeatureDoc(XmlDoc, tag="SipPeerSmsFeature"):
    settings: SmsSettingsDoc | None = element(tag="SipPeerSmsFeatureSettings", default=None)
    http_settings: SmsHttpSettingsDoc | None = element(tag="HttpSettings", default=None)


class SmsFeatureResponse(XmlDoc, tag="SipPeerSmsFeatureResponse"):
    feature: SmsFeatureDoc


_SMS_KEYS = tuple(SmsSettingsDoc.model_fields)


def _sms_in(doc: SmsFeatureDoc) -> dict[str, str | None]:
    raw: dict[str, str | None] = dict.fromkeys(_SMS_KEYS)
    if doc.settings is not None:
        raw.update({k: getattr(doc.settings, k) for k in _SMS_KEYS})
    raw["proxy_peer_id"] = doc.http_settings.proxy_peer_id if doc.http_settings else None
    return raw


def _sms_response(feature: dict, status: int = 200) -> Response:
    settings = SmsSettingsDoc(
        **{k: _b(feature[k]) for k in core.SMS_BOOLS},
        protocol=feature["protocol"],
        a2p_long_code=feature.get("a2p_long_code"),
        a2p_message_class=feature.get("a2p_message_class"),
        a2p_campaign_id=feature.get("a2p_campaign_id"),
    )
    http = SmsHttpSettingsDoc(proxy_peer_id=str(feature["proxy_peer_id"]))
    doc = SmsFeatureResponse(feature=SmsFeatureDoc(settings=settings, http_settings=http))
    return xml_response(doc, status)


async def _set_sms(request: Request, account_id: str, site_id: str, peer_id: str, create: bool):  # type: ignore[no-untyped-def]
    await principal(request, account_id)
    doc = await body_doc(request, SmsFeatureDoc)
    peer = await ctx(request).write(
        core.set_sms_feature, account_id, site_id, peer_id, _sms_in(doc), create=create
    )
    return _sms_response(core.require_feature(peer.sms_feature, "SMS"), 201 if create else 200)


@router.xml("POST", SMS, "SipPeerSmsFeatureResponse")
async def create_sms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    return await _set_sms(request, account_id, site_id, peer_id, create=True)


@router.xml("PUT", SMS, "SipPeerSmsFeatureResponse")
async def update_sms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    return await _set_sms(request, account_id, site_id, peer_id, create=False)


@router.xml("GET", SMS, "SipPeerSmsFeatureResponse")
async def get_sms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    peer = await ctx(request).read(core.get_peer, account_id, site_id, peer_id)
    return _sms_response(core.require_feature(peer.sms_feature, "SMS"))


@router.xml("DELETE", SMS, "SipPeerSmsFeatureResponse")
async def delete_sms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    await ctx(request).write(core.delete_sms_feature, account_id, site_id, peer_id)
    return xml_response(None, 200)


# --- MMS ---------------------------------------------------------------------------------------


class MmsSettingsDoc(XmlDoc, tag="MmsSettings"):
    protocol_upper: str | None = element(tag="Protocol", default=None)  # requests
    protocol: str | None = element(tag="protocol", default=None)  # Bandwidth's answers


class MmsHttpSettingsDoc(XmlDoc, tag="HttpSettings"):
    proxy_peer_id: str | None = element(tag="proxyPeerId", default=None)


class MmsHttpDoc(XmlDoc, tag="HTTP"):
    http_settings: MmsHttpSettingsDoc | None = element(tag="HttpSettings", default=None)


class MmsProtocolsDoc(XmlDoc, tag="Protocols"):
    http: MmsHttpDoc | None = element(tag="HTTP", default=None)


class MmsFeatureDoc(XmlDoc, tag="MmsFeature"):
    settings: MmsSettingsDoc | None = element(tag="MmsSettings", default=None)
    protocols: MmsProtocolsDoc | None = element(tag="Protocols", default=None)


class MmsFeatureResponse(XmlDoc, tag="MmsFeatureResponse"):
    feature: MmsFeatureDoc


def _mms_response(feature: dict, status: int = 200) -> Response:
    protocols = None
    if feature["protocol"] == "HTTP":
        settings = MmsHttpSettingsDoc(proxy_peer_id=str(feature["proxy_peer_id"]))
        protocols = MmsProtocolsDoc(http=MmsHttpDoc(http_settings=settings))
    doc = MmsFeatureResponse(
        feature=MmsFeatureDoc(
            settings=MmsSettingsDoc(protocol=feature["protocol"]), protocols=protocols
        )
    )
    return xml_response(doc, status)


async def _set_mms(request: Request, account_id: str, site_id: str, peer_id: str, create: bool):  # type: ignore[no-untyped-def]
    await principal(request, account_id)
    doc = await body_doc(request, MmsFeatureDoc)
    s = doc.settings
    protocol = (s.protocol_upper or s.protocol) if s is not None else None
    peer = await ctx(request).write(
        core.set_mms_feature, account_id, site_id, peer_id, protocol, create=create
    )
    return _mms_response(core.require_feature(peer.mms_feature, "MMS"), 201 if create else 200)


@router.xml("POST", MMS, "MmsFeatureResponse")
async def create_mms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    return await _set_mms(request, account_id, site_id, peer_id, create=True)


@router.xml("PUT", MMS, "MmsFeatureResponse")
async def update_mms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    return await _set_mms(request, account_id, site_id, peer_id, create=False)


@router.xml("GET", MMS, "MmsFeatureResponse")
async def get_mms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    peer = await ctx(request).read(core.get_peer, account_id, site_id, peer_id)
    return _mms_response(core.require_feature(peer.mms_feature, "MMS"))


@router.xml("DELETE", MMS, "MmsFeatureResponse")
async def delete_mms(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    await ctx(request).write(core.delete_mms_feature, account_id, site_id, peer_id)
    return xml_response(None, 200)


# --- messaging application link ----------------------------------------------------------------


class ApplicationsSettingsDoc(XmlDoc, tag="ApplicationsSettings"):
    text: str | None = None  # "REMOVE"
    app_id: str | None = element(tag="HttpMessagingV2AppId", default=None)


_SETTINGS_ROOTS = ("ApplicationsSettings", "ApplicationSettings")
_REMOVE = "REMOVE"


def _app_settings_response(app_id: str | None) -> Response:
    # Both spellings: the spec/guides read <ApplicationsSettings>, @bandwidth/numbers reads
    # <ApplicationSettings>. Both are present even when unassigned (the SDK indexes into it).
    doc = etree.Element("ApplicationsSettingsResponse")
    for tag in _SETTINGS_ROOTS:
        settings = etree.SubElement(doc, tag)
        if app_id is not None:
            etree.SubElement(settings, "HttpMessagingV2AppId").text = app_id
    return xml(doc)


@router.xml("GET", APP_SETTINGS, "ApplicationsSettingsResponse")
async def get_app_settings(
    request: Request, account_id: str, site_id: str, peer_id: str
) -> Response:
    await principal(request, account_id)
    peer = await ctx(request).read(core.get_peer, account_id, site_id, peer_id)
    return _app_settings_response(peer.messaging_app_id)


@router.xml("PUT", APP_SETTINGS, "ApplicationsSettingsResponse")
async def put_app_settings(
    request: Request, account_id: str, site_id: str, peer_id: str
) -> Response:
    await principal(request, account_id)
    body = await read_body(request)
    app_id: str | None
    if body.strip().upper() == _REMOVE.encode():  # a bare REMOVE, not even XML
        app_id = None
    else:
        doc = parse_doc(body, ApplicationsSettingsDoc, _SETTINGS_ROOTS)
        given = (doc.app_id or "").strip()
        text = (doc.text or "").strip()
        if text.upper() == _REMOVE or given.upper() == _REMOVE:
            app_id = None
        elif given:
            app_id = given
        else:
            raise InvalidInput(
                "HttpMessagingV2AppId is required",
                code=core.E_REQUIRED,
                field="HttpMessagingV2AppId",
            )
    peer = await ctx(request).write(
        core.link_messaging_application, account_id, site_id, peer_id, app_id
    )
    return _app_settings_response(peer.messaging_app_id)


# --- voice origination -------------------------------------------------------------------------


class OriginationHttpDoc(XmlDoc, tag="HttpSettings"):
    app_id: str | None = element(tag="HttpVoiceV2AppId", default=None)


class OriginationDoc(XmlDoc, tag="SipPeerOriginationSettings"):
    voice_protocol: str | None = element(tag="VoiceProtocol", default=None)
    http_settings: OriginationHttpDoc | None = element(tag="HttpSettings", default=None)


class OriginationResponse(XmlDoc, tag="SipPeerOriginationSettingsResponse"):
    settings: OriginationDoc


def _origination_response(peer: core.PeerRow, status: int = 200) -> Response:
    settings = core.require_feature(peer.origination, "Origination")
    http = OriginationHttpDoc(app_id=peer.voice_app_id) if peer.voice_app_id else None
    doc = OriginationDoc(voice_protocol=settings.get("voice_protocol"), http_settings=http)
    return xml_response(OriginationResponse(settings=doc), status)


async def _set_origination(
    request: Request, account_id: str, site_id: str, peer_id: str, create: bool
):  # type: ignore[no-untyped-def]
    await principal(request, account_id)
    doc = await body_doc(request, OriginationDoc)
    app_id = doc.http_settings.app_id if doc.http_settings else None
    peer = await ctx(request).write(
        core.set_origination,
        account_id,
        site_id,
        peer_id,
        doc.voice_protocol,
        app_id,
        create=create,
    )
    return _origination_response(peer, 201 if create else 200)


@router.xml("POST", ORIGINATION, "SipPeerOriginationSettingsResponse")
async def create_origination(
    request: Request, account_id: str, site_id: str, peer_id: str
) -> Response:
    return await _set_origination(request, account_id, site_id, peer_id, create=True)


@router.xml("PUT", ORIGINATION, "SipPeerOriginationSettingsResponse")
async def update_origination(
    request: Request, account_id: str, site_id: str, peer_id: str
) -> Response:
    return await _set_origination(request, account_id, site_id, peer_id, create=False)


@router.xml("GET", ORIGINATION, "SipPeerOriginationSettingsResponse")
async def get_origination(
    request: Request, account_id: str, site_id: str, peer_id: str
) -> Response:
    await principal(request, account_id)
    peer = await ctx(request).read(core.get_peer, account_id, site_id, peer_id)
    return _origination_response(peer)
