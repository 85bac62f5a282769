"""Issue 12, item 10: `GET /health%0a2026-… POST …/disconnects 201` wrote a fake line in the
text log. Every logged field's control characters are written escaped now."""

from __future__ import annotations

import io
import logging

from openband.logs import JsonFormatter, TextFormatter
from tests.support.harness import Harness

FORGED = "2026-12-07 04:00:00,000 INFO openband.request: POST /api/accounts/1/disconnects 201"


def _request_log(harness: Harness, formatter: logging.Formatter, path: str) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("openband.request")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        harness.client.get(path, headers={"X-Request-Id": "rid\tinjected"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return out.getvalue()


def test_a_forged_line_stays_on_its_own_line(harness: Harness) -> None:
    text = _request_log(
        harness, TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"),
        "/health%0a" + FORGED.replace(" ", "%20"),
    )  # fmt: skip
    lines = text.splitlines()
    assert len(lines) == 1, lines
    assert "/health\\x0a2026-12-07" in lines[0]
    assert not any(line.startswith("2026-12-07 04:00:00") for line in lines)
    assert "rid\\x09injected" in lines[0]  # a header value is escaped too


def test_json_lines_are_one_object_each(harness: Harness) -> None:
    import json

    text = _request_log(harness, JsonFormatter(), "/health%0a" + FORGED.replace(" ", "%20"))
    [line] = text.splitlines()
    assert json.loads(line)["msg"].startswith("GET /health\n2026-12-07")
