"""Parse captured Voice v2 webhook bodies with PyPI bandwidth-sdk's own callback models
(unmodified): the 23.x line (pydantic 2) and the 15.x line (pydantic 1) both run this file.

Run by the SDK's venv:  .venv-compat-sdk/bin/python voice_callbacks_py.py  < bodies.json
stdin: [{"id": "...", "model": "GatherCallback", "body": "<the raw JSON body as received>"}]
Prints ONE JSON object: {"sdk", "pydantic", "results": {id: {...}}}; each result has
  ok          the SDK's `Model.from_json(body)` returned an instance of the model
  error       the exception it raised otherwise
  strict      pydantic 2 only: `model_validate_json(body, strict=True)` also passed (or its error)
  unknown     keys of the body the model does not know (they land in additional_properties)
  fields      the parsed model as JSON (`to_dict()`: aliases, datetimes in ISO, enums by value)
  types       the Python type of each parsed field (datetime, CallDirectionEnum, int …)
  mismatches  keys whose parsed value differs from the body's (a datetime compares as an
              instant, an enum by its value)
"""

from __future__ import annotations

import enum
import json
import sys
import traceback
from datetime import datetime
from importlib.metadata import version

import bandwidth.models
import pydantic


def plain(v):  # type: ignore[no-untyped-def]
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if hasattr(v, "to_dict"):
        return plain(v.to_dict())
    return v


def same(body_value, parsed):  # type: ignore[no-untyped-def]
    if isinstance(parsed, datetime):
        if not isinstance(body_value, str):
            return False
        try:
            want = datetime.fromisoformat(body_value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return parsed.tzinfo is not None and parsed == want
    if isinstance(parsed, enum.Enum):
        return parsed.value == body_value
    if hasattr(parsed, "to_dict"):
        return plain(parsed) == body_value
    return type(parsed) is type(body_value) and parsed == body_value


def check(model_name: str, raw: str) -> dict:
    cls = getattr(bandwidth.models, model_name, None)
    if cls is None:
        return {"ok": False, "error": f"bandwidth.models has no {model_name}"}
    body = json.loads(raw)
    try:
        obj = cls.from_json(raw)
    except Exception as exc:
        tb = traceback.format_exc().strip().splitlines()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc} | {' / '.join(tb[-3:])}"}
    if not isinstance(obj, cls):
        return {"ok": False, "error": f"from_json returned {obj!r}"}
    out: dict = {"ok": True, "error": None}
    if hasattr(cls, "model_validate_json"):
        try:
            cls.model_validate_json(raw, strict=True)
            out["strict"] = "ok"
        except Exception as exc:
            out["strict"] = f"{type(exc).__name__}: {exc}"
    out["unknown"] = sorted(obj.additional_properties)
    d = obj.to_dict()
    for k in obj.additional_properties:
        d.pop(k, None)
    out["fields"] = plain(d)
    out["types"] = {k: type(v).__name__ for k, v in d.items()}
    out["mismatches"] = sorted(
        k for k in body if k not in obj.additional_properties and not same(body[k], d.get(k))
    )
    return out


items = json.load(sys.stdin)
results = {item["id"]: check(item["model"], item["body"]) for item in items}
print(
    json.dumps(
        {
            "sdk": f"bandwidth-sdk=={version('bandwidth-sdk')}",
            "pydantic": pydantic.VERSION,
            "results": results,
        },
        default=str,
    )
)
