"""Structured logging: text for humans, JSON lines (`--log-format json`) for machines.

Every request line carries its request id; `extra={...}` fields become JSON keys. A logged
value may come from a request (a path, a header): in the text format its control characters
are written escaped (`\x0a`), so no input can end a line and forge the next one; JSON escapes
them already.
"""

from __future__ import annotations

import logging
import re
import sys
import time

import orjson

_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "color_message"}
# C0 controls, DEL, and what some readers take as line breaks (NEL, LS, PS).
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` with each control character written as an escape (\\x0a, \\u2028)."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text
    )


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message (with its arguments) is escaped; a traceback after it keeps its lines.
        record.message = escape_controls(record.message)
        line = super().formatMessage(record)
        extras = {
            k: v for k, v in record.__dict__.items() if k not in _STD and not k.startswith("_")
        }
        if extras:
            line += " " + " ".join(f"{k}={escape_controls(str(v))}" for k, v in extras.items())
        return line


def configure(fmt: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log would duplicate our request lines.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
