"""Sites (sub-accounts) and their SIP peers (locations).

/accounts/{accountId}/sites[/{siteId}] and /sites/{siteId}/sippeers[/{peerId}]. Wire only; rules
are in core.provisioning. Ids in paths are strings here: the core answers 404 for anything that
is not one of this account's numeric ids.
"""

from __future__ import annotations

from pydantic_xml import element
from starlette.requests import Request
from starlette.responses import Response

from openband.api.context import ctx
from openband.api.dashboard.applications import list_document
from openband.api.dashboard.routing import DashboardRouter, body_doc, location, principal
from openband.api.dashboard.xml import XmlDoc, xml_response
from openband.core import provisioning as core

router = DashboardRouter()


class AddressDoc(XmlDoc, tag="Address"):
    house_prefix: str | None = element(tag="HousePrefix", default=None)
    house_number: str | None = element(tag="HouseNumber", default=None)
    house_suffix: str | None = element(tag="HouseSuffix", default=None)
    pre_directional: str | None = element(tag="PreDirectional", default=None)
    street_name: str | None = element(tag="StreetName", default=None)
    street_suffix: str | None = element(tag="StreetSuffix", default=None)
    post_directional: str | None = element(tag="PostDirectional", default=None)
    address_line2: str | None = element(tag="AddressLine2", default=None)
    city: str | None = element(tag="City", default=None)
    state_code: str | None = element(tag="StateCode", default=None)
    zip: str | None = element(tag="Zip", default=None)
    plus_four: str | None = element(tag="PlusFour", default=None)
    county: str | None = element(tag="County", default=None)
    country: str | None = element(tag="Country", default=None)
    address_type: str | None = element(tag="AddressType", default=None)


def address_in(doc: AddressDoc | None) -> dict[str, str | None] | None:
    return None if doc is None else {k: getattr(doc, k) for k in core.ADDRESS_FIELDS}


def address_out(value: dict | None) -> AddressDoc | None:
    if not value:
        return None
    return AddressDoc(**{k: v for k, v in value.items() if k in core.ADDRESS_FIELDS})


# --- sites -------------------------------------------------------------------------------------


class UcTrunkingDoc(XmlDoc, tag="UcTrunkingConfiguration"):
    type: str | None = element(tag="Type", default=None)
    usage_category: str | None = element(tag="UsageCategory", default=None)


class SiteDoc(XmlDoc, tag="Site"):
    id: str | None = element(tag="Id", default=None)  # output only
    name: str | None = element(tag="Name", default=None)
    description: str | None = element(tag="Description", default=None)
    customer_provided_id: str | None = element(tag="CustomerProvidedID", default=None)
    # The spec's schema spells it CustomerProvidedId; the guides write ...ID. Input only.
    customer_provided_id_alt: str | None = element(tag="CustomerProvidedId", default=None)
    customer_name: str | None = element(tag="CustomerName", default=None)
    address: AddressDoc | None = element(tag="Address", default=None)
    uc_trunking: UcTrunkingDoc | None = element(tag="UcTrunkingConfiguration", default=None)


class SiteResponse(XmlDoc, tag="SiteResponse"):
    site: SiteDoc


def site_in(doc: SiteDoc) -> core.SiteInput:
    uc = doc.uc_trunking
    return core.SiteInput(
        name=doc.name,
        description=doc.description,
        customer_name=doc.customer_name,
        customer_provided_id=doc.customer_provided_id or doc.customer_provided_id_alt,
        address=address_in(doc.address),
        uc_trunking=None if uc is None else {"type": uc.type, "usage_category": uc.usage_category},
    )


def site_out(row: core.SiteRow) -> SiteDoc:
    uc = row.extra.get("uc_trunking")
    return SiteDoc(
        id=str(row.id),
        name=row.name,
        description=row.description,
        customer_provided_id=row.customer_provided_id,
        customer_name=row.customer_name,
        address=address_out(row.address),
        uc_trunking=UcTrunkingDoc(**uc) if uc else None,
    )


def _site_path(account_id: str, site_id: int) -> str:
    return f"/accounts/{account_id}/sites/{site_id}"


@router.xml("GET", "/accounts/{account_id}/sites", "SitesResponse")
async def list_sites(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    rows = await ctx(request).read(core.list_sites, account_id)
    return list_document("SitesResponse", "Sites", [site_out(r) for r in rows])


@router.xml("POST", "/accounts/{account_id}/sites", "SiteResponse")
async def create_site(request: Request, account_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, SiteDoc)
    row = await ctx(request).write(core.create_site, account_id, site_in(doc))
    headers = location(request, _site_path(account_id, row.id))
    return xml_response(SiteResponse(site=site_out(row)), 201, headers)


@router.xml("GET", "/accounts/{account_id}/sites/{site_id}", "SiteResponse")
async def get_site(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    row = await ctx(request).read(core.get_site, account_id, site_id)
    return xml_response(SiteResponse(site=site_out(row)))


@router.xml("PUT", "/accounts/{account_id}/sites/{site_id}", "SiteResponse")
async def replace_site(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, SiteDoc)
    row = await ctx(request).write(core.replace_site, account_id, site_id, site_in(doc))
    return xml_response(SiteResponse(site=site_out(row)))


@router.xml("DELETE", "/accounts/{account_id}/sites/{site_id}", "SiteResponse")
async def delete_site(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    await ctx(request).write(core.delete_site, account_id, site_id)
    return xml_response(None, 200)


# --- SIP peers ---------------------------------------------------------------------------------


class CallingNameDoc(XmlDoc, tag="CallingName"):
    display: str | None = element(tag="Display", default=None)
    enforced: str | None = element(tag="Enforced", default=None)


class SipPeerDoc(XmlDoc, tag="SipPeer"):
    peer_id: str | None = element(tag="PeerId", default=None)  # output only
    peer_name: str | None = element(tag="PeerName", default=None)
    description: str | None = element(tag="Description", default=None)
    is_default_peer: str | None = element(tag="IsDefaultPeer", default=None)
    short_messaging_protocol: str | None = element(tag="ShortMessagingProtocol", default=None)
    billing_identifier: str | None = element(tag="BillingIdentifier", default=None)
    final_destination_uri: str | None = element(tag="FinalDestinationUri", default=None)
    address: AddressDoc | None = element(tag="Address", default=None)
    calling_name: CallingNameDoc | None = element(tag="CallingName", default=None)


class SipPeerResponse(XmlDoc, tag="SipPeerResponse"):
    sip_peer: SipPeerDoc


def _bool(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def peer_in(doc: SipPeerDoc) -> core.PeerInput:
    cn = doc.calling_name
    return core.PeerInput(
        name=doc.peer_name,
        description=doc.description,
        is_default=doc.is_default_peer,
        address=address_in(doc.address),
        calling_name=None if cn is None else {"display": cn.display, "enforced": cn.enforced},
        billing_identifier=doc.billing_identifier,
        final_destination_uri=doc.final_destination_uri,
    )


def peer_out(row: core.PeerRow) -> SipPeerDoc:
    cn = row.extra.get("calling_name")
    return SipPeerDoc(
        peer_id=str(row.id),
        peer_name=row.name,
        description=row.description,
        is_default_peer=_bool(row.is_default),
        short_messaging_protocol=(row.sms_feature or {}).get("protocol"),
        billing_identifier=row.extra.get("billing_identifier"),
        final_destination_uri=row.extra.get("final_destination_uri"),
        address=address_out(row.extra.get("address")),
        calling_name=CallingNameDoc(
            display=_bool(cn.get("display")), enforced=_bool(cn.get("enforced"))
        )
        if cn
        else None,
    )


PEERS = "/accounts/{account_id}/sites/{site_id}/sippeers"
PEER = PEERS + "/{peer_id}"


@router.xml("GET", PEERS, "TNSipPeersResponse")
async def list_peers(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    rows = await ctx(request).read(core.list_peers, account_id, site_id)
    return list_document("TNSipPeersResponse", "SipPeers", [peer_out(r) for r in rows])


@router.xml("POST", PEERS, "SipPeerResponse")
async def create_peer(request: Request, account_id: str, site_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, SipPeerDoc)
    row = await ctx(request).write(core.create_peer, account_id, site_id, peer_in(doc))
    # Bandwidth answers with no body: the Location header is the only way to learn the id.
    headers = location(request, f"{_site_path(account_id, row.site_id)}/sippeers/{row.id}")
    return xml_response(None, 201, headers)


@router.xml("GET", PEER, "SipPeerResponse")
async def get_peer(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    row = await ctx(request).read(core.get_peer, account_id, site_id, peer_id)
    return xml_response(SipPeerResponse(sip_peer=peer_out(row)))


@router.xml("PUT", PEER, "SipPeerResponse")
async def update_peer(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    doc = await body_doc(request, SipPeerDoc)
    row = await ctx(request).write(core.update_peer, account_id, site_id, peer_id, peer_in(doc))
    return xml_response(SipPeerResponse(sip_peer=peer_out(row)))


@router.xml("DELETE", PEER, "SipPeerResponse")
async def delete_peer(request: Request, account_id: str, site_id: str, peer_id: str) -> Response:
    await principal(request, account_id)
    await ctx(request).write(core.delete_peer, account_id, site_id, peer_id)
    return xml_response(None, 200)
