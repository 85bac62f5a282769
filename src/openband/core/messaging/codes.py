"""Message statuses, the transitions between them, and Bandwidth's messaging error codes."""

from __future__ import annotations

STATUSES = (
    "RECEIVED",
    "QUEUED",
    "SENDING",
    "SENT",
    "FAILED",
    "DELIVERED",
    "ACCEPTED",
    "UNDELIVERED",
)
DIRECTIONS = ("INBOUND", "OUTBOUND")
MESSAGE_TYPES = ("sms", "mms", "rcs")

# Which statuses a recipient may move from to reach each status: forward only, and one terminal
# outcome (delivered or failed) per recipient. Anything else is a duplicate or a regression.
FORWARD: dict[str, tuple[str, ...]] = {
    "SENDING": ("QUEUED",),
    "SENT": ("QUEUED", "SENDING"),
    "DELIVERED": ("QUEUED", "SENDING", "SENT"),
    "FAILED": ("QUEUED", "SENDING", "SENT"),
}
CALLBACK_TYPES = {
    "SENDING": "message-sending",
    "DELIVERED": "message-delivered",
    "FAILED": "message-failed",
}

E_EXPIRED = 4360
E_MEDIA_UNAVAILABLE = 4410
E_UNKNOWN = 9999

# Bandwidth's messaging failure codes (api-docs messaging/errors.mdx).
ERROR_DESCRIPTIONS: dict[int, str] = {
    4001: "service-not-allowed",
    4301: "malformed-invalid-encoding",
    4302: "malformed-invalid-from-number",
    4303: "malformed-invalid-to-number",
    4350: "malformed-for-destination",
    4360: "message-not-sent-expiration-date-passed",
    4401: "rejected-routing-error",
    4403: "rejected-forbidden-from-number",
    4404: "rejected-forbidden-to-number",
    4405: "rejected-unallocated-from-number",
    4406: "rejected-unallocated-to-number",
    4407: "rejected-account-not-defined-from-number",
    4408: "rejected-account-not-defined-to-number",
    4409: "rejected-invalid-from-profile",
    4410: "media-unavailable",
    4411: "rejected-message-size-limit-exceeded",
    4412: "media-content-invalid",
    4420: "rejected-carrier-does-not-exist",
    4421: "rejected-forbidden-no-destination",
    4431: "rejected-forbidden-shortcode",
    4432: "rejected-forbidden-country",
    4433: "rejected-forbidden-tollfree",
    4434: "rejected-forbidden-tollfree-for-recipient",
    4435: "forbidden-too-many-recipients",
    4451: "rejected-wrong-user-id",
    4452: "rejected-wrong-application-id",
    4470: "rejected-spam-detected",
    4481: "rejected-from-number-in-blacklist",
    4482: "rejected-to-number-in-blacklist",
    4492: "reject-emergency",
    4493: "rejected-unauthorized",
    4494: "rejected-canceled-message",
    4495: "rejected-invalid-to-number-prefix",
    4700: "invalid-service-type",
    4701: "destination-service-unavailable",
    4702: "destination-subscriber-unavailable",
    4703: "destination-subscriber-unavailable-roaming",
    4704: "destination-subscriber-suspended",
    4705: "destination-subscriber-blocked",
    4711: "destination-rejected-message-size-limit-exceeded",
    4712: "media-content-invalid",
    4720: "invalid-destination-address",
    4721: "destination-number-deactivated",
    4730: "destination-network-unavailable",
    4740: "source-rejected",
    4750: "destination-rejected-message",
    4751: "destination-rejected-due-to-user-opt-out",
    4770: "destination-spam-detected",
    4775: "destination-rejected-due-to-user-opt-out",
    4780: "destination-rejected-due-to-tcpa",
    4781: "destination-rejected-due-to-spam",
    4785: "destination-rejected-due-to-spam-velocity-limit",
    4790: "destination-rejected-due-to-lack-of-proper-authorization",
    4791: "destination-rejected-due-to-blocklist",
    4795: "destination-rejected-due-to-daily-limit",
    4796: "destination-rejected-due-to-unregistered-campaign",
    5100: "destination-app-error",
    5106: "destination-app-error",
    5111: "destination-app-error",
    5201: "destination-app-error",
    5211: "destination-app-error",
    5220: "destination-app-error",
    5230: "destination-app-error",
    5231: "destination-app-error",
    5232: "destination-app-error",
    5500: "destination-tcp-error",
    5501: "destination-tcp-error",
    5600: "destination-carrier-queue-full",
    5610: "destination-carrier-internal-error",
    5620: "destination-carrier-internal-error",
    5630: "destination-carrier-internal-error",
    5650: "destination-failure",
    5999: "unknown-error",
    9902: "delivery-receipt-expired",
    9999: "unknown-error",
}


def describe_error(code: int) -> str:
    return ERROR_DESCRIPTIONS.get(code, "unknown-error")
