"""Reading a driver's JSON result in tests: step values with their HTTP exchanges on failure."""

from __future__ import annotations

from typing import Any

import pytest


def step(result: dict, name: str) -> Any:
    """The value of one driver step; fails with the step's error and HTTP exchanges."""
    steps = result.get("steps", {})
    if name not in steps:
        pytest.fail(
            f"step {name!r} did not run (driver exit {result.get('_exit')}); "
            f"steps run: {list(steps)}\nstderr:\n{result.get('_stderr', '')}",
            pytrace=False,
        )
    s = steps[name]
    if not s.get("ok"):
        pytest.fail(f"SDK step {name!r} failed:\n{describe(s)}", pytrace=False)
    return s.get("value")


def describe(s: dict) -> str:
    out = [f"error: {s.get('error')}"]
    for ex in s.get("http", []):
        out.append(
            f"  {ex.get('method')} {ex.get('url')} -> {ex.get('status')}\n"
            f"    response headers: {ex.get('headers')}\n"
            f"    response body: {ex.get('body')}"
        )
    return "\n".join(out)


def ctx(result: dict, name: str) -> str:
    """Assertion context: the step's value and its HTTP exchanges."""
    s = result.get("steps", {}).get(name, {})
    return f"step {name!r} value={s.get('value')!r}\n{describe(s)}"
