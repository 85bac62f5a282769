"""Provisioning rules: applications, sites (sub-accounts), SIP peers (locations) and their products.

The wire layer hands over raw strings keyed by snake_case names; everything about what is valid
lives here. Errors carry Bandwidth's numeric codes where the spec shows one (1003 "X is required",
1011 "too long", 12016 site, 13563 peer, 13629 application, 13522 default peer, 13613/13673 SMS);
the few situations the spec leaves without a code use OpenBand's own (noted below).

Another account's ids are indistinguishable from ids that do not exist: every lookup is scoped to
the caller's account and answers NotFound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncConnection

from openband import ids
from openband.errors import Conflict, InvalidInput, NotFound
from openband.store import provisioning as repo
from openband.store.provisioning import ApplicationRow, AssociatedPeer, PeerRow, SiteRow

__all__ = [
    "ApplicationInput",
    "ApplicationRow",
    "AssociatedPeer",
    "PeerInput",
    "PeerRow",
    "SiteInput",
    "SiteRow",
    "associated_peers",
    "create_application",
    "create_peer",
    "create_site",
    "default_peer",
    "delete_application",
    "delete_mms_feature",
    "delete_peer",
    "delete_site",
    "delete_sms_feature",
    "find_peer",
    "get_application",
    "get_peer",
    "get_site",
    "link_messaging_application",
    "list_applications",
    "list_peers",
    "list_sites",
    "patch_application",
    "replace_application",
    "replace_site",
    "require_feature",
    "set_mms_feature",
    "set_origination",
    "set_sms_feature",
    "update_peer",
]

# Codes from Bandwidth's spec.
E_REQUIRED = 1003
E_TOO_LONG = 1011
E_SITE_NOT_FOUND = 12016
E_DEFAULT_PEER = 13522
E_PEER_NOT_FOUND = 13563
E_PEER_HAS_SMS = 13613
E_APP_NOT_FOUND = 13629
E_SMS_HAS_NUMBERS = 13673
# OpenBand's own codes where the spec documents the rule but no code.
E_INVALID_VALUE = 1004
E_SITE_IN_USE = 12060
E_PEER_HAS_NUMBERS = 13614
E_APP_IN_USE = 13630
E_APP_WRONG_TYPE = 13631
E_FEATURE_EXISTS = 13632
E_FEATURE_MISSING = 13633

MESSAGING = "Messaging-V2"
VOICE = "Voice-V2"
# Older documents and examples spell the service types without the version suffix.
_SERVICE_TYPES = {
    "messaging-v2": MESSAGING,
    "messaging": MESSAGING,
    "voice-v2": VOICE,
    "voice": VOICE,
}
CALLBACK_TYPES = ("message-delivered", "message-failed", "message-sending")
_METHODS = ("GET", "POST")

# Application config keys (stored as-is in applications.config) and their Bandwidth names.
URL_FIELDS = {
    "inbound_callback_url": "InboundCallbackUrl",
    "outbound_callback_url": "OutboundCallbackUrl",
    "callback_url": "CallbackUrl",
    "msg_callback_url": "MsgCallbackUrl",
    "call_initiated_callback_url": "CallInitiatedCallbackUrl",
    "call_status_callback_url": "CallStatusCallbackUrl",
    "call_initiated_fallback_url": "CallInitiatedFallbackUrl",
}
METHOD_FIELDS = {
    "call_initiated_method": "CallInitiatedMethod",
    "call_status_method": "CallStatusMethod",
    "call_initiated_fallback_method": "CallInitiatedFallbackMethod",
}
CREDS_FIELDS = {
    "inbound_callback_creds": "InboundCallbackCreds",
    "outbound_callback_creds": "OutboundCallbackCreds",
    "callback_creds": "CallbackCreds",
    "msg_callback_creds": "MsgCallbackCreds",
    "call_initiated_fallback_creds": "CallInitiatedFallbackCreds",
}
CONFIG_KEYS = (
    *URL_FIELDS,
    *METHOD_FIELDS,
    *CREDS_FIELDS,
    "requested_callback_types",
    "callback_timeout",
)

# Site/peer address: snake_case key -> Bandwidth element, in Bandwidth's output order.
ADDRESS_FIELDS = {
    "house_prefix": "HousePrefix",
    "house_number": "HouseNumber",
    "house_suffix": "HouseSuffix",
    "pre_directional": "PreDirectional",
    "street_name": "StreetName",
    "street_suffix": "StreetSuffix",
    "post_directional": "PostDirectional",
    "address_line2": "AddressLine2",
    "city": "City",
    "state_code": "StateCode",
    "zip": "Zip",
    "plus_four": "PlusFour",
    "county": "County",
    "country": "Country",
    "address_type": "AddressType",
}
_ADDRESS_REQUIRED = ("house_number", "street_name", "city", "state_code", "zip")
_ZIP = re.compile(r"^(\d{5})(?:-(\d{4}))?$")
_ID = re.compile(r"^\d{1,18}$")  # fits BIGINT; anything else cannot name a site or peer

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
_UC_TYPES = ("Seats", "Premise", "Cloud")
_UC_CATEGORIES = ("UC250", "UC500", "UC1000")


# --- inputs ------------------------------------------------------------------------------------


@dataclass
class ApplicationInput:
    """An application as given. `config` holds only the keys present in the request: URL and
    method fields as strings, creds as {"user_id", "password"}, requested_callback_types as a
    list of strings, callback_timeout as a string."""

    service_type: str | None = None
    name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class SiteInput:
    name: str | None = None
    description: str | None = None
    customer_name: str | None = None
    customer_provided_id: str | None = None
    address: dict[str, str | None] | None = None
    uc_trunking: dict[str, str | None] | None = None


@dataclass
class PeerInput:
    name: str | None = None
    description: str | None = None
    is_default: str | None = None
    address: dict[str, str | None] | None = None
    calling_name: dict[str, str | None] | None = None
    billing_identifier: str | None = None
    final_destination_uri: str | None = None


# --- small validators --------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.strip()
    return v or None


def _required(value: str | None, label: str) -> str:
    v = _text(value)
    if v is None:
        raise InvalidInput(f"{label} is required", code=E_REQUIRED, field=label)
    return v


def _max_len(value: str | None, label: str, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise InvalidInput(
            f"{label} is too long. Max length {limit} characters.", code=E_TOO_LONG, field=label
        )
    return value


def _invalid(label: str, value: object, expected: str) -> InvalidInput:
    shown = str(value)[:64]
    return InvalidInput(
        f"{label} value '{shown}' is not valid. {expected}", code=E_INVALID_VALUE, field=label
    )


def parse_bool(value: str | None, label: str) -> bool | None:
    v = _text(value)
    if v is None:
        return None
    low = v.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise _invalid(label, v, "Valid values are true or false.")


def _choice(value: str | None, label: str, choices: tuple[str, ...]) -> str | None:
    v = _text(value)
    if v is None:
        return None
    for c in choices:
        if c.lower() == v.lower():
            return c
    raise _invalid(label, v, f"Valid values are: {', '.join(choices)}.")


def _url(value: str | None, label: str) -> str | None:
    v = _text(value)
    if v is None:
        return None
    _max_len(v, label, 2048)
    try:
        parts = urlsplit(v)
    except ValueError as exc:
        raise _invalid(label, v, "An absolute http(s) URL is required.") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _invalid(label, v, "An absolute http(s) URL is required.")
    return v


def _numeric_id(value: int | str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 < value < 2**63 else None
    s = str(value).strip()
    return int(s) if _ID.match(s) else None


# --- applications ------------------------------------------------------------------------------


def _service_type(value: str | None) -> str | None:
    v = _text(value)
    if v is None:
        return None
    st = _SERVICE_TYPES.get(v.lower())
    if st is None:
        raise _invalid("ServiceType", v, "Valid values are: Messaging-V2, Voice-V2.")
    return st


def _creds(value: Any, label: str, previous: dict | None) -> dict | None:
    if not isinstance(value, dict):
        return None
    user = _max_len(_text(value.get("user_id")), f"{label}.UserId", 255)
    password = _max_len(_text(value.get("password")), f"{label}.Password", 255)
    if user is None and password is None:
        return None
    if password is None and previous and previous.get("user_id") == user:
        # Passwords are never echoed, so a GET-modify-PUT round trip omits them: keep the old one.
        password = previous.get("password")
    return {"user_id": user, "password": password}


def _callback_timeout(value: Any) -> int | float | None:
    v = _text(value if isinstance(value, str) else None if value is None else str(value))
    if v is None:
        return None
    try:
        number = float(v)
    except ValueError as exc:
        raise _invalid("CallbackTimeout", v, "A number of seconds between 1 and 25.") from exc
    if not 1 <= number <= 25:
        raise _invalid("CallbackTimeout", v, "A number of seconds between 1 and 25.")
    return int(number) if number.is_integer() else number


def _callback_types(value: Any) -> list[str] | None:
    if value is None:
        return None
    out: list[str] = []
    for item in value:
        t = _choice(item, "CallbackType", CALLBACK_TYPES)
        if t is not None and t not in out:
            out.append(t)
    return out


def _normalise_config(given: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """Validate the keys present in `given`; None means "absent" and is dropped."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key in URL_FIELDS:
            v = _url(value, URL_FIELDS[key])
        elif key in METHOD_FIELDS:
            v = _choice(value, METHOD_FIELDS[key], _METHODS)
        elif key in CREDS_FIELDS:
            v = _creds(value, CREDS_FIELDS[key], previous.get(key))
        elif key == "requested_callback_types":
            v = _callback_types(value)
        elif key == "callback_timeout":
            v = _callback_timeout(value)
        else:
            raise ValueError(f"unknown application config key {key!r}")
        if v is not None:
            out[key] = v
    return out


def _check_app(service_type: str, name: str, config: dict[str, Any]) -> None:
    _max_len(name, "AppName", 255)
    if service_type == VOICE and "call_initiated_callback_url" not in config:
        raise InvalidInput(
            "CallInitiatedCallbackUrl is required",
            code=E_REQUIRED,
            field="CallInitiatedCallbackUrl",
        )


async def get_application(conn: AsyncConnection, account_id: str, app_id: str) -> ApplicationRow:
    row = await repo.get_application(conn, account_id, str(app_id))
    if row is None:
        raise NotFound(f"Application with id '{app_id}' not found", code=E_APP_NOT_FOUND)
    return row


async def list_applications(conn: AsyncConnection, account_id: str) -> list[ApplicationRow]:
    return await repo.list_applications(conn, account_id)


async def create_application(
    conn: AsyncConnection, account_id: str, data: ApplicationInput
) -> ApplicationRow:
    service_type = _service_type(data.service_type)
    if service_type is None:
        raise InvalidInput("ServiceType is required", code=E_REQUIRED, field="ServiceType")
    name = _required(data.name, "AppName")
    config = _normalise_config(data.config, {})
    _check_app(service_type, name, config)
    app_id = ids.application_id()
    await repo.insert_application(conn, app_id, account_id, service_type, name, config)
    return await get_application(conn, account_id, app_id)


async def _save_app(
    conn: AsyncConnection, current: ApplicationRow, service_type: str, name: str, config: dict
) -> ApplicationRow:
    _check_app(service_type, name, config)
    if service_type != current.service_type and await repo.peers_using_application(
        conn, current.account_id, current.id
    ):
        raise InvalidInput(
            "ServiceType cannot change while the application is assigned to a location",
            code=E_APP_IN_USE,
            field="ServiceType",
        )
    await repo.update_application(conn, current.id, service_type, name, config)
    return await get_application(conn, current.account_id, current.id)


async def replace_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput
) -> ApplicationRow:
    """PUT: the new document replaces every callback field (ServiceType may be omitted)."""
    current = await _locked_app(conn, account_id, app_id)
    service_type = _service_type(data.service_type) or current.service_type
    name = _required(data.name, "AppName")
    config = _normalise_config(data.config, current.config)
    return await _save_app(conn, current, service_type, name, config)


async def patch_application(
    conn: AsyncConnection, account_id: str, app_id: str, data: ApplicationInput
) -> ApplicationRow:
    """PATCH: only the given fields change; a URL field set to 'remove' is deleted."""
    current = await _locked_app(conn, account_id, app_id)
    service_type = _service_type(data.service_type) or current.service_type
    name = _text(data.name) or current.name
    given = dict(data.config)
    removed = {
        k
        for k in URL_FIELDS
        if isinstance(given.get(k), str) and given[k].strip().lower() == "remove"
    }
    for k in removed:
        given.pop(k)
    config = {k: v for k, v in current.config.items() if k not in removed}
    for key, value in _normalise_config(given, current.config).items():
        if key in CREDS_FIELDS and isinstance(config.get(key), dict):
            merged = {**config[key], **{k: v for k, v in value.items() if v is not None}}
            config[key] = merged
        else:
            config[key] = value
    return await _save_app(conn, current, service_type, name, config)


async def _locked_app(conn: AsyncConnection, account_id: str, app_id: str) -> ApplicationRow:
    row = await repo.get_application(conn, account_id, str(app_id), lock=True)
    if row is None:
        raise NotFound(f"Application with id '{app_id}' not found", code=E_APP_NOT_FOUND)
    return row


async def delete_application(conn: AsyncConnection, account_id: str, app_id: str) -> None:
    app = await _locked_app(conn, account_id, app_id)
    if await repo.peers_using_application(conn, account_id, app.id):
        raise Conflict(
            f"Application '{app.id}' is assigned to one or more locations and cannot be removed",
            code=E_APP_IN_USE,
        )
    await repo.delete_application(conn, app.id)


async def associated_peers(
    conn: AsyncConnection, account_id: str, app_id: str
) -> list[AssociatedPeer]:
    app = await get_application(conn, account_id, app_id)
    return await repo.peers_using_application(conn, account_id, app.id)


# --- sites -------------------------------------------------------------------------------------


def _address(raw: dict[str, str | None] | None, *, required: bool) -> dict[str, str] | None:
    if raw is None or not any(_text(v) for v in raw.values()):
        if required:
            raise InvalidInput("Address is required", code=E_REQUIRED, field="Address")
        return None
    out: dict[str, str] = {}
    for key, label in ADDRESS_FIELDS.items():
        v = _max_len(_text(raw.get(key)), label, 100)
        if v is not None:
            out[key] = v
    for key in _ADDRESS_REQUIRED:
        if key not in out:
            label = ADDRESS_FIELDS[key]
            raise InvalidInput(f"{label} is required", code=E_REQUIRED, field=label)
    state = out["state_code"].upper()
    if not re.fullmatch(r"[A-Z]{2}", state):
        raise _invalid("StateCode", out["state_code"], "A 2-letter state code is required.")
    out["state_code"] = state
    m = _ZIP.match(out["zip"])
    if m is None:
        raise _invalid("Zip", out["zip"], "A 5-digit ZIP code is required.")
    out["zip"] = m.group(1)
    if m.group(2) and "plus_four" not in out:
        out["plus_four"] = m.group(2)
    out["address_type"] = (
        _choice(out.get("address_type"), "AddressType", ("Service", "Billing")) or "Service"
    )
    return out


def _site_values(data: SiteInput) -> dict[str, Any]:
    name = _max_len(_required(data.name, "Name"), "Name", 10)
    address = _address(data.address, required=True)
    extra: dict[str, Any] = {}
    if data.uc_trunking is not None:
        uc = {
            "type": _choice(data.uc_trunking.get("type"), "Type", _UC_TYPES),
            "usage_category": _choice(
                data.uc_trunking.get("usage_category"), "UsageCategory", _UC_CATEGORIES
            ),
        }
        uc = {k: v for k, v in uc.items() if v is not None}
        if uc:
            extra["uc_trunking"] = uc
    return {
        "name": name,
        "description": _max_len(_text(data.description), "Description", 1000),
        "customer_name": _max_len(_text(data.customer_name), "CustomerName", 50),
        "customer_provided_id": _max_len(
            _text(data.customer_provided_id), "CustomerProvidedID", 10
        ),
        "address": address,
        "extra": extra,
    }


def _site_not_found(site_id: int | str) -> NotFound:
    return NotFound(f"Site '{str(site_id)[:40]}' does not exist", code=E_SITE_NOT_FOUND)


async def _site(
    conn: AsyncConnection, account_id: str, site_id: int | str, *, lock: bool = False
) -> SiteRow:
    sid = _numeric_id(site_id)
    row = await repo.get_site(conn, account_id, sid, lock=lock) if sid is not None else None
    if row is None:
        raise _site_not_found(site_id)
    return row


async def get_site(conn: AsyncConnection, account_id: str, site_id: int | str) -> SiteRow:
    return await _site(conn, account_id, site_id)


async def list_sites(conn: AsyncConnection, account_id: str) -> list[SiteRow]:
    return await repo.list_sites(conn, account_id)


async def create_site(conn: AsyncConnection, account_id: str, data: SiteInput) -> SiteRow:
    site_id = await repo.insert_site(conn, account_id, _site_values(data))
    return await _site(conn, account_id, site_id)


async def replace_site(
    conn: AsyncConnection, account_id: str, site_id: int | str, data: SiteInput
) -> SiteRow:
    site = await _site(conn, account_id, site_id, lock=True)
    await repo.update_site(conn, site.id, _site_values(data))
    return await _site(conn, account_id, site.id)


async def delete_site(conn: AsyncConnection, account_id: str, site_id: int | str) -> None:
    site = await _site(conn, account_id, site_id, lock=True)
    if await repo.site_has_peers(conn, site.id):
        raise InvalidInput(
            f"Site '{site.id}' cannot be deleted while it has SIP Peers", code=E_SITE_IN_USE
        )
    if await repo.site_has_numbers(conn, site.id):
        raise InvalidInput(
            f"Site '{site.id}' cannot be deleted while it has telephone numbers",
            code=E_SITE_IN_USE,
        )
    await repo.delete_site(conn, site.id)


# --- SIP peers ---------------------------------------------------------------------------------


def _peer_not_found(account_id: str, site_id: int | str, peer_id: int | str) -> NotFound:
    return NotFound(
        f"Sip Peer '{str(peer_id)[:40]}' account '{account_id}' and site '{str(site_id)[:40]}' "
        "does not exist",
        code=E_PEER_NOT_FOUND,
    )


async def get_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> PeerRow:
    return await _peer(conn, account_id, site_id, peer_id)


async def _peer(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    *,
    lock: bool = False,
) -> PeerRow:
    site = await _site(conn, account_id, site_id, lock=lock)
    pid = _numeric_id(peer_id)
    row = (
        await repo.get_peer(conn, account_id, pid, site.id, lock=lock) if pid is not None else None
    )
    if row is None:
        raise _peer_not_found(account_id, site_id, peer_id)
    return row


async def find_peer(conn: AsyncConnection, account_id: str, peer_id: int | str) -> PeerRow | None:
    pid = _numeric_id(peer_id)
    return await repo.get_peer(conn, account_id, pid) if pid is not None else None


async def default_peer(conn: AsyncConnection, account_id: str, site_id: int) -> PeerRow | None:
    sid = _numeric_id(site_id)
    return await repo.default_peer(conn, account_id, sid) if sid is not None else None


async def list_peers(conn: AsyncConnection, account_id: str, site_id: int | str) -> list[PeerRow]:
    site = await _site(conn, account_id, site_id)
    return await repo.list_peers(conn, account_id, site.id)


def _peer_extra(data: PeerInput, previous: dict[str, Any]) -> dict[str, Any]:
    extra = dict(previous)
    address = _address(data.address, required=False)
    if address is not None:
        extra["address"] = address
    if data.calling_name is not None:
        cn = {
            "display": parse_bool(data.calling_name.get("display"), "CallingName.Display"),
            "enforced": parse_bool(data.calling_name.get("enforced"), "CallingName.Enforced"),
        }
        extra["calling_name"] = {k: v for k, v in cn.items() if v is not None}
    for key, label, limit in (
        ("billing_identifier", "BillingIdentifier", 50),
        ("final_destination_uri", "FinalDestinationUri", 255),
    ):
        v = _max_len(_text(getattr(data, key)), label, limit)
        if v is not None:
            extra[key] = v
    return extra


async def create_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, data: PeerInput
) -> PeerRow:
    site = await _site(conn, account_id, site_id, lock=True)  # serialises default-peer changes
    name = _max_len(_required(data.name, "PeerName"), "PeerName", 255)
    wants_default = parse_bool(data.is_default, "IsDefaultPeer")
    first = await repo.count_peers(conn, site.id) == 0
    # A site's first peer is its default whatever the request says; later ones only on request.
    is_default = first or bool(wants_default)
    peer_id = await repo.insert_peer(
        conn,
        account_id,
        site.id,
        {
            "name": name,
            "description": _max_len(_text(data.description), "Description", 1000),
            "is_default": is_default,
            "extra": _peer_extra(data, {}),
        },
    )
    if is_default and not first:
        await repo.clear_default(conn, site.id, peer_id)
    return await _peer(conn, account_id, site.id, peer_id)


async def update_peer(
    conn: AsyncConnection,
    account_id: str,
    site_id: int | str,
    peer_id: int | str,
    data: PeerInput,
) -> PeerRow:
    """PUT on a peer: the given elements change, omitted ones keep their value."""
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    values: dict[str, Any] = {"extra": _peer_extra(data, peer.extra)}
    if _text(data.name) is not None:
        values["name"] = _max_len(_text(data.name), "PeerName", 255)
    if _text(data.description) is not None:
        values["description"] = _max_len(_text(data.description), "Description", 1000)
    wants_default = parse_bool(data.is_default, "IsDefaultPeer")
    if wants_default is False and peer.is_default:
        raise InvalidInput(
            "IsDefaultPeer cannot be false right now. The site requires a default Sip Peer; "
            "make another Sip Peer the default instead",
            code=E_DEFAULT_PEER,
            field="IsDefaultPeer",
        )
    if wants_default and not peer.is_default:
        values["is_default"] = True
        await repo.clear_default(conn, peer.site_id, peer.id)
    await repo.update_peer(conn, peer.id, values)
    return await _peer(conn, account_id, peer.site_id, peer.id)


async def delete_peer(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    if peer.sms_feature is not None:
        raise InvalidInput(
            "Delete not allowed while a SIP Peer has SMS feature", code=E_PEER_HAS_SMS
        )
    if await repo.peer_has_numbers(conn, peer.id):
        raise InvalidInput(
            "Delete not allowed while a SIP Peer has telephone numbers", code=E_PEER_HAS_NUMBERS
        )
    await repo.delete_peer(conn, peer.id)
    if peer.is_default:
        # Keep "one default per site": the oldest remaining peer takes over.
        rest = await repo.list_peers(conn, account_id, peer.site_id)
        if rest:
            await repo.update_peer(conn, rest[0].id, {"is_default": True})


# --- messaging product -------------------------------------------------------------------------


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
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    _feature_state(peer.sms_feature, "SMS", create)
    feature: dict[str, Any] = {}
    for key, (label, default) in SMS_BOOLS.items():
        value = parse_bool(raw.get(key), label)
        feature[key] = default if value is None else value
    protocol = _choice(raw.get("protocol"), "Protocol", _SMS_PROTOCOLS)
    if protocol is None:
        raise InvalidInput("Protocol is required", code=E_REQUIRED, field="Protocol")
    feature["protocol"] = protocol
    long_code = _text(raw.get("a2p_long_code"))
    if long_code is not None:
        canonical = _A2P_LONG_CODE.get(long_code.replace("_", "").lower())
        if canonical is None:
            raise _invalid(
                "A2pLongCode",
                long_code,
                "Valid values are: 'ON', 'OFF', 'DefaultOn', 'DefaultOff'.",
            )
        feature["a2p_long_code"] = canonical
    for key, label in (
        ("a2p_message_class", "A2pMessageClass"),
        ("a2p_campaign_id", "A2pCampaignId"),
    ):
        v = _max_len(_text(raw.get(key)), label, 64)
        if v is not None:
            feature[key] = v
    proxy = _text(raw.get("proxy_peer_id"))
    if proxy is not None and _numeric_id(proxy) is None:
        raise _invalid("ProxyPeerId", proxy, "A numeric id is required.")
    # Bandwidth answers with the id of the HTTP proxy peer; ours is the location itself.
    feature["proxy_peer_id"] = int(proxy) if proxy is not None else peer.id
    await repo.update_peer(conn, peer.id, {"sms_feature": feature})
    return await _peer(conn, account_id, peer.site_id, peer.id)


async def delete_sms_feature(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    _feature_state(peer.sms_feature, "SMS", create=False)
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
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    _feature_state(peer.mms_feature, "MMS", create)
    proto = _choice(protocol, "Protocol", _MMS_PROTOCOLS)
    if proto is None:
        raise InvalidInput("Protocol is required", code=E_REQUIRED, field="Protocol")
    feature = {"protocol": proto, "proxy_peer_id": peer.id}
    await repo.update_peer(conn, peer.id, {"mms_feature": feature})
    return await _peer(conn, account_id, peer.site_id, peer.id)


async def delete_mms_feature(
    conn: AsyncConnection, account_id: str, site_id: int | str, peer_id: int | str
) -> None:
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    _feature_state(peer.mms_feature, "MMS", create=False)
    await repo.update_peer(conn, peer.id, {"mms_feature": None})


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


async def _app_of_type(
    conn: AsyncConnection, account_id: str, app_id: str, service_type: str
) -> ApplicationRow:
    app = await _locked_app(conn, account_id, app_id)  # a concurrent delete waits for us
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
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    linked = None
    if app_id is not None:
        linked = (await _app_of_type(conn, account_id, app_id, MESSAGING)).id
    await repo.update_peer(conn, peer.id, {"messaging_app_id": linked})
    return await _peer(conn, account_id, peer.site_id, peer.id)


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
    peer = await _peer(conn, account_id, site_id, peer_id, lock=True)
    if create and peer.origination is not None:
        raise Conflict(
            "Origination settings already exist on this Sip Peer; use PUT to change them",
            code=E_FEATURE_EXISTS,
        )
    protocol = _choice(voice_protocol, "VoiceProtocol", ("HTTP", "SIP"))
    if protocol is None:
        raise InvalidInput("VoiceProtocol is required", code=E_REQUIRED, field="VoiceProtocol")
    app_id = _text(app_id)
    linked = None
    if protocol == "HTTP":
        if app_id is None:
            raise InvalidInput(
                "HttpVoiceV2AppId is required", code=E_REQUIRED, field="HttpVoiceV2AppId"
            )
        linked = (await _app_of_type(conn, account_id, app_id, VOICE)).id
    await repo.update_peer(
        conn, peer.id, {"origination": {"voice_protocol": protocol}, "voice_app_id": linked}
    )
    return await _peer(conn, account_id, peer.site_id, peer.id)
