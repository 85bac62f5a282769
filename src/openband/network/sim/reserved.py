"""Reserved test numbers: a fixed behaviour in every area code, +1 NPA 555 0100-0107.

555-01xx is the fictional range, never assigned to a real line, so these can be dialled from
any test without an account owning them or a script set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openband.network.sim.behaviours import Behaviour


@dataclass(frozen=True)
class ReservedNumber:
    line: str  # the last four digits, e.g. "0101"
    behaviour: Behaviour
    summary: str

    def example(self, npa: str = "919") -> str:
        return f"+1{npa}555{self.line}"


RESERVED_DELAY_SECONDS = 5.0

RESERVED: dict[str, ReservedNumber] = {
    r.line: r
    for r in (
        ReservedNumber("0100", Behaviour(), "delivered at once"),
        ReservedNumber(
            "0101", Behaviour("fail", 4720), "fails 4720 invalid-destination-address (after sent)"
        ),
        ReservedNumber(
            "0102", Behaviour("opt_out"), "fails 4775 destination-rejected-due-to-user-opt-out"
        ),
        ReservedNumber(
            "0103",
            Behaviour("never_confirm"),
            "sent, no receipt: fails 9902 delivery-receipt-expired after the receipt timeout",
        ),
        ReservedNumber(
            "0104",
            Behaviour(delay_seconds=RESERVED_DELAY_SECONDS),
            f"sent at once, delivered {RESERVED_DELAY_SECONDS:g} s later",
        ),
        ReservedNumber(
            "0105",
            Behaviour(auto_reply="You said: {text}"),
            "delivered, then replies 'You said: <text>'",
        ),
        ReservedNumber(
            "0106",
            Behaviour("fail", 4432),
            "fails 4432 rejected-forbidden-country (before sending)",
        ),
        ReservedNumber("0107", Behaviour("fail", 5999), "fails 5999 unknown-error (rejected)"),
    )
}

_RESERVED_RE = re.compile(r"^\+1[2-9]\d{2}555(01\d{2})$", re.ASCII)


def reserved(tn: str) -> ReservedNumber | None:
    m = _RESERVED_RE.match(tn)
    return RESERVED.get(m.group(1)) if m else None
