"""Bandwidth's messaging error codes: what a carrier reports a failed message with, and the
`description` sent with message-failed (reference/messaging-error-codes.md, from api-docs
site/docs/messaging/errors.mdx).

They live with the carrier interface because carriers speak them: the simulator fails a handset's
messages with them, an SMPP connector maps its SMSC's errors to them, and core/messaging adds the
few it detects itself (expired, media unavailable).
"""

from __future__ import annotations

E_EXPIRED = 4360
E_MEDIA_UNAVAILABLE = 4410
E_UNKNOWN = 9999

# code -> the `description` sent with message-failed.
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
    4700: "invalid-service-type",
    4701: "destination-service-unavailable",
    4702: "destination-subscriber-unavailable",
    4711: "rejected-message-size-limit-exceeded",
    4712: "media-content-invalid",
    4720: "invalid-destination-address",
    4721: "destination-tn-deactivated",
    4730: "no-route-to-destination-carrier",
    4740: "invalid-source-address-address",
    4750: "destination-rejected-message",
    4751: "destination-rejected-message-size-invalid",
    4752: "destination-rejected-malformed",
    4753: "destination-rejected-handset",
    4770: "destination-spam-detected",
    4771: "rejected-shortened-url",
    4772: "rejected-tn-blocked",
    4773: "inactive-campaign",
    4774: "provisioning-issue",
    4775: "destination-rejected-due-to-user-opt-out",
    4780: "volume-violation-tmo",
    4781: "volume-violation-att",
    4785: "volumetric-violation",
    4790: "destination-rejected-sc-not-allowed",
    4791: "destination-rejected-campaign-not-allowed",
    4792: "destination-rejected-sc-not-provisioned",
    4793: "destination-rejected-sc-expired",
    4795: "tfn-not-verified",
    5100: "temporary-app-error",
    5101: "temporary-app-shutdown",
    5106: "impossible-to-route",
    5111: "temporary-app-connection-closed",
    5201: "temporary-rout-error-retries-exceeded",
    5211: "temporary-app-error-app-busy",
    5220: "temporary-store-error",
    5231: "discarded-concatenation-timeout",
    5500: "message-send-failed",
    5501: "message-send-failed",
    5999: "unknown-error",
    5600: "destination-carrier-queue-full",
    5610: "submit_ sm-or-submit_ multi-failed",
    5620: "destination-app-error",
    5630: "message-not-acknowle",
    5650: "destination-failed",
    9902: "delivery-receipt-expired",
    9999: "unknown-error",
}


def describe_error(code: int) -> str:
    return ERROR_DESCRIPTIONS.get(code, "unknown-error")


def reported_after_sending(code: int) -> bool:
    """Whether a failure is learnt after the message left for the carrier (so `sent` comes first).

    Per the error table, 47xx are carrier rejections (4xxx with second digit 7), 56xx carrier
    service failures and 99xx downstream/receipt failures; the rest are detected by Bandwidth
    before sending.
    """
    return code // 100 == 47 or code // 100 == 56 or code >= 9900
