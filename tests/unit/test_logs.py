from __future__ import annotations

import json
import logging

from openband.logs import JsonFormatter


def test_json_lines_carry_extra_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "openband.request", "levelname": "INFO", "levelno": 20, "msg": "GET %s 200",
         "args": ("/health",), "request_id": "abc123", "status": 200}
    )  # fmt: skip
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "GET /health 200"
    assert line["request_id"] == "abc123" and line["status"] == 200
    assert line["level"] == "info" and line["ts"].endswith("Z")
