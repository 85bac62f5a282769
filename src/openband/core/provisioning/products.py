"""A SIP peer's products: the SMS and MMS features, its messaging application, and its
origination settings (voice protocol and voice application)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from openband.core.provisioning.applications import load_application
from openband.core.provisioning.config import MESSAGING, VOICE
from openband.core.provisioning.locations import load_peer, save_peer
from openband.core.provisioning.validators import (
    E_APP_WRONG_TYPE,
    E_FEATURE_EXISTS,
    E_FEATURE_MISSING,
    E_SMS_HAS_NUMBERS,
    invalid,
    max_len,
    missing,
    numeric_id,
    parse_bool,
    required_choice,
    text,
)
from openband.errors import Conflict, InvalidInput, NotFound
from openband.store import provisioning as repo
from openband.store.provisioning import ApplicationRow, PeerRow

SMS_BOOLS = {
    "toll_free": ("TollFree", False),
    "short_code": ("ShortCode", False),
    "zone1": ("Zone1", True),
    "zone2": ("Zone2", False),
    "zone3": ("Zone3", False),
    "zone4": ("Zone4", False),
    "zone5": ("Zone5", False),
}
_SMS_PROTOCOLS = ("HTTP", "SIP", "SMPP")
_MMS_PROTOCOLS = ("HTTP", "MM4")
_A2P_LONG_CODE = {"on": "ON", "off": "OFF", "defaulton": "DefaultOn", "defaultoff": "DefaultOff"}
# Feature label -> the peer column holding its settings.
_FEATURE_COLUMNS = {"SMS": "sms_feature", "MMS": "mms_feature"}


def require_feature(current: dict | None, label: str) -> dict:
    """The product settings of a peer, or NotFound when that product is not enabled."""
    _feature_state(current, label, create=False)
    assert current is not None
    return current


def _feature_state(current: dict | None, label: str, create: bool) -> None:
    if create and current is not None:
        raise Conflict(
            f"{label} feature is already enabled on this Sip Peer; use PUT to change it",
            code=E_FEATURE_EXISTS,
        )
    if not create and current is None:
        raise NotFound(f"{label} settings do not exist", code=E_FEATURE_MISSING)


async def _feature_peer(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    label: str,
    *,
    create: bool,
) -> PeerRow:
    """The locked peer, once its `label` feature is absent (create) or present (otherwise)."""
    peer = await load_peer(conn, account_id, site_id, peer_id, lock=True)
    _feature_state(getattr(peer, _FEATURE_COLUMNS[label]), label, create)
    return peer


async def set_sms_feature(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    raw: dict[str, str | None],
    *,
    create: bool,
) -> PeerRow:
    """POST (create=True) enables SMS; PUT replaces the existing settings."""
    peer = await _feature_peer(conn, account_id, site_id, peer_id, "SMS", create=create)
    feature: dict[str, Any] = {}
    for key, (label, default) in SMS_BOOLS.items():
        value = parse_bool(raw.get(key), label)
        feature[key] = default if value is None else value
    feature["protocol"] = required_choice(raw.get("protocol"), "Protocol", _SMS_PROTOCOLS)
    long_code = text(raw.get("a2p_long_code"))
    if long_code is not None:
        canonical = _A2P_LONG_CODE.get(long_code.replace("_", "").lower())
        if canonical is None:
            raise invalid(
                "A2pLongCode",
                long_code,
                "Valid values are: 'ON', 'OFF', 'DefaultOn', 'DefaultOff'.",
            )
        feature["a2p_long_code"] = canonical
    for key, label in (
        ("a2p_message_class", "A2pMessageClass"),
        ("a2p_campaign_id", "A2pCampaignId"),
    ):
        v = max_len(text(raw.get(key)), label, 64)
        if v is not None:
            feature[key] = v
    proxy = text(raw.get("proxy_peer_id"))
    if proxy is not None and numeric_id(proxy) is None:
        raise invalid("ProxyPeerId", proxy, "A numeric id is required.")
    # Bandwidth answers with the id of the HTTP proxy peer; ours is the location itself.
    feature["proxy_peer_id"] = int(proxy) if proxy is not None else peer.id
    return await save_peer(conn, account_id, peer, {"sms_feature": feature})


async def delete_sms_feature(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await _feature_peer(conn, account_id, site_id, peer_id, "SMS", create=False)
    if await repo.peer_has_numbers(conn, peer.id):
        raise InvalidInput(
            "Can not disable SMS feature on Sip Peer because it has telephone numbers with "
            "messaging enabled.",
            code=E_SMS_HAS_NUMBERS,
        )
    await repo.update_peer(conn, peer.id, {"sms_feature": None})


async def set_mms_feature(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    protocol: str | None,
    *,
    create: bool,
) -> PeerRow:
    peer = await _feature_peer(conn, account_id, site_id, peer_id, "MMS", create=create)
    proto = required_choice(protocol, "Protocol", _MMS_PROTOCOLS)
    feature = {"protocol": proto, "proxy_peer_id": peer.id}
    return await save_peer(conn, account_id, peer, {"mms_feature": feature})


async def delete_mms_feature(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await _feature_peer(conn, account_id, site_id, peer_id, "MMS", create=False)
    await repo.update_peer(conn, peer.id, {"mms_feature": None})


async def _app_of_type(
    conn: AsyncConnection, account_id: str, app_id: str, service_type: str
) -> ApplicationRow:
    # Locked: a concurrent delete of the application waits for the link.
    app = await load_application(conn, account_id, app_id, lock=True)
    if app.service_type != service_type:
        raise InvalidInput(
            f"Application '{app.id}' is a {app.service_type} application; a {service_type} "
            "application is required",
            code=E_APP_WRONG_TYPE,
        )
    return app


async def link_messaging_application(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    app_id: str | None,
) -> PeerRow:
    """Assign the peer's HttpMessagingV2AppId; None unassigns (Bandwidth's 'REMOVE')."""
    peer = await load_peer(conn, account_id, site_id, peer_id, lock=True)
    linked = None
    if app_id is not None:
        linked = (await _app_of_type(conn, account_id, app_id, MESSAGING)).id
    return await save_peer(conn, account_id, peer, {"messaging_app_id": linked})


async def set_origination(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    voice_protocol: str | None,
    app_id: str | None,
    *,
    create: bool,
) -> PeerRow:
    """Origination settings: VoiceProtocol HTTP with an HttpVoiceV2AppId, or SIP (no app)."""
    peer = await load_peer(conn, account_id, site_id, peer_id, lock=True)
    if create and peer.origination is not None:
        raise Conflict(
            "Origination settings already exist on this Sip Peer; use PUT to change them",
            code=E_FEATURE_EXISTS,
        )
    protocol = required_choice(voice_protocol, "VoiceProtocol", ("HTTP", "SIP"))
    app_id = text(app_id)
    linked = None
    if protocol == "HTTP":
        if app_id is None:
            raise missing("HttpVoiceV2AppId")
        linked = (await _app_of_type(conn, account_id, app_id, VOICE)).id
    return await save_peer(
        conn,
        account_id,
        peer,
        {"origination": {"voice_protocol": protocol}, "voice_app_id": linked},
    )
