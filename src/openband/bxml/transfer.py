"""Other parties: <Transfer> (with <PhoneNumber>/<SipUri>), <Forward>, <Bridge>, <Refer>,
<Connect> (with <Endpoint>).

Sources: api-docs site/docs/voice/bxml/transfer.mdx, forward.mdx, bridge.mdx; python-sdk
bandwidth/models/bxml/verbs/transfer.py, phone_number.py, sip_uri.py, forward.py, bridge.py,
connect.py, endpoint.py, refer.py.

Where the SDK and the docs differ, the SDK's wire wins: PhoneNumber takes `uui` (docs: SipUri
only); Transfer and Forward take `privacy`, Forward `callerDisplayName`, Connect
`eventFallbackUrl` (python-sdk 23.3.1); <Refer> exists only in python-sdk 23.3.1 (one <SipUri>,
referCompleteUrl/Method, tag). python-sdk (through ba8d157) misspells
bridgeTargetCompleteFallbackUrl as `bridgeTargetCompleteFallback_url`: read as an alias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from lxml import etree

from openband.bxml._wire import (
    METHOD_SPEC,
    TAG_MAX,
    Method,
    Node,
    flag,
    number,
    one_of,
    parse_children,
    register,
    text,
    token,
    url,
)
from openband.bxml.errors import BxmlError

MAX_TRANSFER_TARGETS: Final = 8
UUI_MAX: Final = 256
DISPLAY_NAME_MAX: Final = 256

E164 = re.compile(r"\+[1-9][0-9]{1,14}")
SIP_URI = re.compile(r"sips?:\S+", re.IGNORECASE)
# transfer.mdx / forward.mdx: a caller id is E.164 or one of these.
PRIVATE_CALLER_IDS: Final = ("Restricted", "Anonymous", "Private", "Unavailable")

DiversionTreatment = Literal["none", "propagate", "stack"]
DiversionReason = Literal[
    "unknown", "user-busy", "no-answer", "unavailable", "unconditional", "time-of-day",
    "do-not-disturb", "deflection", "follow-me", "out-of-service", "away",
]  # fmt: skip
_TREATMENTS: Final = ("none", "propagate", "stack")
_REASONS: Final = (
    "unknown", "user-busy", "no-answer", "unavailable", "unconditional", "time-of-day",
    "do-not-disturb", "deflection", "follow-me", "out-of-service", "away",
)  # fmt: skip


def _caller_id(node: Node, value: str | None, attribute: str) -> None:
    if value is not None and not E164.fullmatch(value) and value not in PRIVATE_CALLER_IDS:
        raise node._fail(
            f"{attribute} must be an E.164 number or one of {', '.join(PRIVATE_CALLER_IDS)}",
            attribute,
        )


def _display_name(node: Node, value: str | None, attribute: str) -> None:
    if value is not None and (
        len(value) > DISPLAY_NAME_MAX or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise node._fail(
            f"{attribute} must be at most {DISPLAY_NAME_MAX} characters, without control "
            "characters",
            attribute,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _TransferTarget(Node):
    """What PhoneNumber and SipUri share: the B-leg's webhooks."""

    transfer_answer_url: str | None = url()
    transfer_answer_method: Method = field(default="POST", metadata=METHOD_SPEC)
    transfer_answer_fallback_url: str | None = url()
    transfer_answer_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    transfer_disconnect_url: str | None = url()
    transfer_disconnect_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    uui: str | None = text(max_len=UUI_MAX)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneNumber(_TransferTarget):
    """An E.164 number to ring (only inside Transfer)."""

    TAG = "PhoneNumber"
    TEXT = "number"
    PARENTS = ("Transfer",)

    number: str = field(kw_only=False)

    def _check(self) -> None:
        if not E164.fullmatch(self.number):
            raise self._fail(f"'{self.number}' is not an E.164 number (like +15555555555)")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri(_TransferTarget):
    """A SIP URI to ring (inside Transfer), or to refer the call to (inside Refer)."""

    TAG = "SipUri"
    TEXT = "uri"
    PARENTS = ("Transfer", "Refer")

    uri: str = field(kw_only=False)

    def _check(self) -> None:
        if not SIP_URI.fullmatch(self.uri):
            raise self._fail(f"'{self.uri}' is not a SIP URI (like sip:user@server.com)")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Node):
    """Ring 1-8 numbers/URIs at once and bridge the first to answer."""

    TAG = "Transfer"
    CHILDREN = "targets"
    ALLOWED = ("PhoneNumber", "SipUri")

    transfer_caller_id: str | None = token()
    transfer_caller_display_name: str | None = text()
    privacy: bool = flag(False)
    call_timeout: float = number(30, 1, 300)
    transfer_complete_url: str | None = url()
    transfer_complete_method: Method = field(default="POST", metadata=METHOD_SPEC)
    transfer_complete_fallback_url: str | None = url()
    transfer_complete_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)
    diversion_treatment: DiversionTreatment | None = field(
        default=None, metadata=one_of(_TREATMENTS)
    )
    diversion_reason: DiversionReason | None = field(default=None, metadata=one_of(_REASONS))
    targets: tuple[PhoneNumber | SipUri, ...] = ()

    def _check(self) -> None:
        if not 1 <= len(self.targets) <= MAX_TRANSFER_TARGETS:
            raise self._fail(
                f"must contain between 1 and {MAX_TRANSFER_TARGETS} PhoneNumber or SipUri "
                f"elements (found {len(self.targets)})"
            )
        _caller_id(self, self.transfer_caller_id, "transferCallerId")
        _display_name(self, self.transfer_caller_display_name, "transferCallerDisplayName")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Forward(Node):
    """Hand an unanswered inbound call to another number; the application loses the call."""

    TAG = "Forward"

    to: str = token(required=True)
    from_: str | None = token()
    privacy: bool = flag(False)
    caller_display_name: str | None = text()
    call_timeout: float = number(30, 1, 300)
    diversion_treatment: DiversionTreatment | None = field(
        default=None, metadata=one_of(_TREATMENTS)
    )
    diversion_reason: DiversionReason | None = field(default=None, metadata=one_of(_REASONS))
    uui: str | None = text(max_len=UUI_MAX)

    def _check(self) -> None:
        if not E164.fullmatch(self.to) and not SIP_URI.fullmatch(self.to):
            raise self._fail("to must be an E.164 number or a SIP URI", "to")
        _caller_id(self, self.from_, "from")
        _display_name(self, self.caller_display_name, "callerDisplayName")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge(Node):
    """Bridge the call whose id is the text onto this one."""

    TAG = "Bridge"
    TEXT = "target_call"

    target_call: str = field(kw_only=False)
    bridge_complete_url: str | None = url()
    bridge_complete_method: Method = field(default="POST", metadata=METHOD_SPEC)
    bridge_complete_fallback_url: str | None = url()
    bridge_complete_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    bridge_target_complete_url: str | None = url()
    bridge_target_complete_method: Method = field(default="POST", metadata=METHOD_SPEC)
    bridge_target_complete_fallback_url: str | None = url(
        aliases=("bridgeTargetCompleteFallback_url",)
    )
    bridge_target_complete_fallback_method: Method = field(default="POST", metadata=METHOD_SPEC)
    username: str | None = text()
    password: str | None = text()
    fallback_username: str | None = text()
    fallback_password: str | None = text()
    tag: str | None = text(max_len=TAG_MAX)

    def _check(self) -> None:
        if not self.target_call:
            raise self._fail("the target call id must not be blank")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Refer(Node):
    """Send a SIP REFER to move the call to one SIP URI (python-sdk 23.3.1 refer.py)."""

    TAG = "Refer"

    sip_uri: SipUri = field(kw_only=False)
    refer_complete_url: str | None = url()
    refer_complete_method: Method = field(default="POST", metadata=METHOD_SPEC)
    tag: str | None = text(max_len=TAG_MAX)

    @classmethod
    def _read_content(cls, element: etree._Element, kwargs: dict[str, Any], strict: bool) -> None:
        found = parse_children("Refer", {"SipUri": SipUri}, element, strict)
        if len(found) != 1:
            raise BxmlError(
                f"Refer must contain exactly one SipUri (found {len(found)})", verb="Refer"
            )
        kwargs["sip_uri"] = found[0]

    def _check(self) -> None:
        if not isinstance(self.sip_uri, SipUri):
            raise self._fail("must contain exactly one SipUri")

    def _write_content(self, el: etree._Element) -> None:
        el.append(self.sip_uri.to_element())


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint(Node):
    """A BRTC endpoint id to connect the call to (only inside Connect)."""

    TAG = "Endpoint"
    TEXT = "endpoint_id"
    PARENTS = ("Connect",)

    endpoint_id: str = field(kw_only=False)

    def _check(self) -> None:
        if not self.endpoint_id:
            raise self._fail("the endpoint id must not be blank")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Node):
    """Connect the call to BRTC endpoints (python-sdk connect.py; not yet in api-docs)."""

    TAG = "Connect"
    CHILDREN = "endpoints"
    ALLOWED = ("Endpoint",)

    event_callback_url: str | None = url()
    event_fallback_url: str | None = url()
    endpoints: tuple[Endpoint, ...] = ()

    def _check(self) -> None:
        if not self.endpoints:
            raise self._fail("must contain at least one Endpoint")
