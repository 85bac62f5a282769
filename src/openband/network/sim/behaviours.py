"""How a virtual handset answers the messages it is sent: its script (PUT /sim/v1/handsets), a
reserved number's fixed behaviour (reserved.py), or the default: deliver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from openband.errors import InvalidInput
from openband.network.messaging import CONTROL_IN_TEXT, MAX_TEXT
from openband.network.messaging_errors import ERROR_DESCRIPTIONS

Mode = Literal["deliver", "fail", "never_confirm", "opt_out"]
MODES: tuple[Mode, ...] = ("deliver", "fail", "never_confirm", "opt_out")

OPT_OUT_CODE = 4775  # destination-rejected-due-to-user-opt-out
RECEIPT_EXPIRED_CODE = 9902  # delivery-receipt-expired
MAX_DELAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Behaviour:
    """How a virtual handset answers what it is sent (the PUT /sim/v1/handsets body)."""

    mode: Mode = "deliver"
    error_code: int | None = None  # mode "fail" only
    delay_seconds: float = 0.0  # deliver/fail: the final receipt comes this much later
    auto_reply: str | None = None  # "{text}" is replaced by the received text
    auto_reply_delay_seconds: float = 0.0

    def validate(self) -> Behaviour:
        if self.mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
        if self.mode == "fail":
            if self.error_code is None:
                raise InvalidInput("errorCode is required when mode is fail", field="errorCode")
            if self.error_code not in ERROR_DESCRIPTIONS:
                raise InvalidInput(
                    f"errorCode {self.error_code} is not a Bandwidth messaging error code",
                    field="errorCode",
                )
        elif self.error_code is not None:
            raise InvalidInput("errorCode applies only to mode fail", field="errorCode")
        for name, value in (
            ("delaySeconds", self.delay_seconds),
            ("autoReplyDelaySeconds", self.auto_reply_delay_seconds),
        ):
            if not 0 <= value <= MAX_DELAY_SECONDS:
                raise InvalidInput(
                    f"{name} must be between 0 and {MAX_DELAY_SECONDS:g}", field=name
                )
        if self.auto_reply is not None and len(self.auto_reply) > MAX_TEXT:
            raise InvalidInput(f"autoReply is longer than {MAX_TEXT} characters", field="autoReply")
        if self.auto_reply is not None and CONTROL_IN_TEXT.search(self.auto_reply):
            raise InvalidInput("autoReply must not contain control characters", field="autoReply")
        return self

    @property
    def failure_code(self) -> int | None:
        """The code this handset fails with, if it fails."""
        if self.mode == "fail":
            return self.error_code
        if self.mode == "opt_out":
            return OPT_OUT_CODE
        if self.mode == "never_confirm":
            return RECEIPT_EXPIRED_CODE
        return None

    @property
    def immediate(self) -> bool:
        """Answers at once, sets no timer and sends nothing back (the batched case)."""
        return self.mode != "never_confirm" and not self.delay_seconds and self.auto_reply is None

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "errorCode": self.error_code,
            "delaySeconds": self.delay_seconds,
            "autoReply": self.auto_reply,
            "autoReplyDelaySeconds": self.auto_reply_delay_seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Behaviour:
        """From a stored row (written by to_json); unknown keys are ignored."""
        data = data or {}
        mode = data.get("mode") if data.get("mode") in MODES else "deliver"
        code = data.get("errorCode")
        return cls(
            mode=cast(Mode, mode),
            error_code=int(code) if code is not None else None,
            delay_seconds=float(data.get("delaySeconds") or 0.0),
            auto_reply=data.get("autoReply"),
            auto_reply_delay_seconds=float(data.get("autoReplyDelaySeconds") or 0.0),
        )


DEFAULT = Behaviour()
