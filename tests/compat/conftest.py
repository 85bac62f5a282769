"""Compatibility suite: the official Bandwidth SDKs, unmodified, against a live `openband serve`.

Each driver (tests/compat/drivers/) runs in the SDK's own runtime as a subprocess, performs its
whole flow once per module and prints one JSON object; the tests assert it step by step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.support.live import (
    ROOT,
    LiveServer,
    attach_server_log,
    live_server,
    missing_tool,
    stop_shared_servers,
)

__all__ = ["live_server"]

HERE = Path(__file__).resolve().parent
DRIVERS = HERE / "drivers"
NUMBERS_VENV = ROOT / ".venv-compat-numbers"
NODE_MODULES = HERE / "node_modules"
DRIVER_TIMEOUT = 240


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    attach_server_log(item, outcome.get_result())


def pytest_sessionfinish(session: pytest.Session) -> None:
    stop_shared_servers()


_RESULTS: dict[tuple[str, str], dict] = {}


def _run_driver(cmd: list[str], server: LiveServer, env: dict[str, str] | None = None) -> dict:
    """Run a driver once per server (xdist may re-create module fixtures; the flow is slow)."""
    key = (cmd[-1], server.base_url)
    if key not in _RESULTS:
        _RESULTS[key] = _run_driver_now(cmd, server, env)
    return _RESULTS[key]


def _run_driver_now(cmd: list[str], server: LiveServer, env: dict[str, str] | None) -> dict:
    args = [server.dashboard_url, server.account_id, server.username, server.password]
    try:
        r = subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=DRIVER_TIMEOUT,
            env={**os.environ, **(env or {})},
            cwd=HERE,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"driver {cmd[-1]} timed out after {DRIVER_TIMEOUT}s: {exc.stderr!r}")
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        pytest.fail(
            f"driver {cmd[-1]} printed no JSON (exit {r.returncode}).\n"
            f"stdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}",
            pytrace=False,
        )
    result = json.loads(lines[-1])
    result["_stderr"] = r.stderr[-4000:]
    result["_exit"] = r.returncode
    return result


# The drivers' fixtures take `live_server` as an argument (not getfixturevalue): it is
# parametrised over the backends, so every compat test runs against SQLite and PostgreSQL.


@pytest.fixture(scope="module")
def numbers_py(live_server: LiveServer) -> dict:
    """Run drivers/numbers_py.py with bandwidth-numbers-sdk==1.2.0's own interpreter."""
    python = NUMBERS_VENV / "bin" / "python"
    if not python.exists():
        missing_tool(f"{python} missing: run `bash tests/compat/install.sh`")
    return _run_driver([str(python), str(DRIVERS / "numbers_py.py")], live_server)


@pytest.fixture(scope="module")
def numbers_node(live_server: LiveServer) -> dict:
    """Run drivers/numbers_node.js with @bandwidth/numbers@2.0.0 from tests/compat/node_modules."""
    node = shutil.which("node")
    if node is None:
        missing_tool("`node` not found: the Node.js compat tests need Node.js and npm")
    if not (NODE_MODULES / "@bandwidth" / "numbers").is_dir():
        missing_tool("@bandwidth/numbers not installed: run `bash tests/compat/install.sh`")
    return _run_driver([str(node), str(DRIVERS / "numbers_node.js")], live_server)
