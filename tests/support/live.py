"""A real `openband serve` subprocess for the compatibility and end-to-end tests.

The server is started exactly as a user would run it: the account is created first with
`openband accounts create`, then `openband serve --port … --database …` runs on a free loopback
port with OPENBAND_DEV_ACCOUNT=false. Its stderr/stdout go to a log file that is attached to the
report of every failing test that used it (see `attach_server_log`).

Fixture: `live_server`, parametrised over the backends (SQLite, and PostgreSQL in a schema of its
own): one server per backend and test process, shared by every module that imports the fixture
into its conftest.py.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url

ACCOUNT_ID = "9900000"
USERNAME = "iris-user"
PASSWORD = "iris-pass"
USER_ID = "u-user"
API_TOKEN = "t-token"
API_SECRET = "s-secret"

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
LOG_TAIL_LINES = 200


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def missing_tool(reason: str) -> None:
    """Skip locally; under CI=true a missing SDK/runtime is a failure, never a skip."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required)", pytrace=False)
    pytest.skip(reason)


def openband_exe() -> str:
    """The `openband` console script of the venv running the tests."""
    here = Path(sys.executable).parent / "openband"
    if here.exists():
        return str(here)
    found = shutil.which("openband")
    if not found:
        raise RuntimeError("the `openband` command is not installed (run `make install`)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """One running `openband serve` and the account created for it."""

    workdir: Path
    database_url: str = ""
    port: int = 0
    log_path: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = None
    account_id: str = ACCOUNT_ID
    username: str = USERNAME
    password: str = PASSWORD
    user_id: str = USER_ID
    api_token: str = API_TOKEN
    api_secret: str = API_SECRET
    log_shown_for: set[str] = field(default_factory=set)
    backend: str = "sqlite"
    pg_schema: str = ""  # dropped when the server is stopped for good

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "openband-serve.log"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.workdir / 'ob.db'}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """What the numbers SDKs take as their endpoint (…/api)."""
        return f"{self.base_url}/api"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBAND_")}
        env.update(
            OPENBAND_DEV_ACCOUNT="false",
            OPENBAND_WORKER_POLL_SECONDS="0.05",
            OPENBAND_LOG_LEVEL="INFO",
            # The CLI and the server find one key (and whatever else lives there) in one place,
            # with PostgreSQL too (whose default is ./var of each process's directory).
            OPENBAND_DATA_DIR=str(self.workdir),
            PYTHONUNBUFFERED="1",
        )
        return env

    def create_account(self) -> None:
        cmd = [
            openband_exe(), "accounts", "create",
            "--account-id", self.account_id,
            "--username", self.username,
            "--password", self.password,
            "--user-id", self.user_id,
            "--api-token", self.api_token,
            "--api-secret", self.api_secret,
            "--database", self.database_url,
        ]  # fmt: skip
        r = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(
                f"`openband accounts create` failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
            )

    def start(self) -> None:
        self.create_account()
        self.port = free_port()
        cmd = [
            openband_exe(), "serve",
            "--port", str(self.port),
            "--database", self.database_url,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"openband serve exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                r = httpx.get(f"{self.base_url}/ready", timeout=2.0)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"openband serve not ready in {START_TIMEOUT}s ({last}):\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=self.auth, timeout=30.0)


_SHARED: dict[str, LiveServer] = {}
_PG = postgres_base_url()  # None: PostgreSQL is skipped (never under CI, where it is an error)
BACKENDS = ["sqlite"] + (["postgres"] if _PG else [])


def stop_shared_servers() -> None:
    """Stop the shared servers (idempotent): from pytest_sessionfinish, and at process exit."""
    servers = list(_SHARED.values())
    _SHARED.clear()
    for server in servers:
        server.stop()
        rc = server.proc.returncode if server.proc else None
        if rc not in (0, -signal.SIGTERM, None):
            sys.stderr.write(f"\nopenband serve exited with {rc}; log tail:\n{server.log_tail()}\n")
        if server.pg_schema and _PG:
            with contextlib.suppress(Exception):
                drop_pg_schema(_PG, server.pg_schema)


atexit.register(stop_shared_servers)


def shared_server(
    backend: str, tmp_path_factory: pytest.TempPathFactory, name: str = "live"
) -> LiveServer:
    """The test process's server `name` of `backend`, started on first use (again if it died).
    Suites that change what others rely on (the contract fuzzer) take a name of their own."""
    key = f"{name}-{backend}"
    server = _SHARED.get(key)
    if server is None or server.proc is None or server.proc.poll() is not None:
        workdir = tmp_path_factory.mktemp(key)
        if backend == "sqlite":
            server = LiveServer(workdir, backend=backend)
        else:
            assert _PG is not None
            url, schema = create_pg_schema(_PG)
            server = LiveServer(workdir, database_url=url, backend=backend, pg_schema=schema)
        _SHARED[key] = server
        server.start()
    return server


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> LiveServer:
    """One server per backend and test process, started on first use and stopped when the
    process exits.

    It is deliberately not torn down with the fixture: pytest-xdist tears session fixtures down
    whenever a worker's queue runs empty, and each restart costs seconds of startup.
    """
    return shared_server(request.param, tmp_path_factory)


def attach_server_log(item: pytest.Item, report: pytest.TestReport) -> None:
    """Add the live server's log tail to a failed test's report (hook it in the conftest.py)."""
    if not report.failed:
        return
    server = getattr(item, "funcargs", {}).get("live_server")
    if not isinstance(server, LiveServer):
        return
    # Once per test module and server: the drivers make all their requests in one run.
    module = f"{item.nodeid.split('::')[0]} ({server.backend})"
    if module in server.log_shown_for:
        report.sections.append(("openband serve log", f"(see the first failure in {module})"))
        return
    server.log_shown_for.add(module)
    report.sections.append((f"openband serve log (tail) {server.log_path}", server.log_tail()))
