"""The CLI works on the database of a running server, and the server sees its changes."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.support.live import LiveServer, openband_exe


def _cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [openband_exe(), *args, "--database", server.database_url],
        capture_output=True,
        text=True,
        timeout=120,
        env=server._env(),
    )


def _status(server: LiveServer, account: str, auth: tuple[str, str]) -> int:
    return httpx.get(f"{server.base_url}/api/accounts/{account}", auth=auth, timeout=10).status_code


def test_accounts_created_and_changed_while_serving(live_server: LiveServer) -> None:
    r = _cli(
        live_server, "accounts", "create", "--account-id", "9900777",
        "--username", "cli-user", "--password", "first-pass",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _status(live_server, "9900777", ("cli-user", "first-pass")) == 200

    listed = _cli(live_server, "accounts", "list")
    assert listed.returncode == 0 and "9900777" in listed.stdout

    r = _cli(
        live_server, "accounts", "set-password", "--username", "cli-user", "--password", "second"
    )
    assert r.returncode == 0, r.stderr
    # Another process changed the hash: the server's caches let the old password go within seconds.
    deadline = time.monotonic() + 15
    while _status(live_server, "9900777", ("cli-user", "first-pass")) != 401:
        assert time.monotonic() < deadline, "old password still accepted"
        time.sleep(0.25)
    assert _status(live_server, "9900777", ("cli-user", "second")) == 200

    dup = _cli(
        live_server, "accounts", "create", "--account-id", "9900777",
        "--username", "someone", "--password", "x",
    )  # fmt: skip
    assert dup.returncode == 1 and "already exists" in dup.stdout


def test_openapi_documents_only_openbands_own_endpoints(live_server: LiveServer) -> None:
    spec = httpx.get(f"{live_server.base_url}/openapi.json", timeout=10).json()
    paths = set(spec["paths"])
    assert {"/health", "/ready"} <= paths
    assert any(p.startswith("/sim/v1/") for p in paths)
    assert not any("/accounts/" in p or "/users/" in p for p in paths)
    assert httpx.get(f"{live_server.base_url}/docs", timeout=10).status_code == 200
