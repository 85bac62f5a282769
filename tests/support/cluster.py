"""Several real `openband serve` processes, a scriptable callback receiver, and provisioning.

For the reliability tests (tests/e2e/test_crash_recovery.py, test_flaky_sink.py,
test_two_nodes.py, test_messaging_flow.py). Everything is black-box: processes are started with
the `openband` command and OPENBAND_* environment variables, accounts are created with
`openband accounts create`, and everything else goes through the HTTP APIs.

- `Node`: one `openband serve` on a loopback port, with settings from the environment; it can be
  stopped (SIGTERM), killed (SIGKILL) and started again on the same port and database.
- `database(kind, tmp_path)`: a fresh SQLite file or PostgreSQL schema for one test (xdist-safe).
- `Receiver`: an aiohttp webhook receiver on 127.0.0.1 in a thread of its own. Answers can be
  scripted per path and per event id (the n-th attempt of each event gets the n-th answer), it
  records the start and end of every request, and it notices when the sender hangs up.
- `provision_messaging(client, account, callback_url, creds)`: application, site, location with
  SMS and MMS, the application linked to the location, and numbers ordered onto it, all through
  the Dashboard API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from lxml import etree

from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url
from tests.support.live import free_port, openband_exe
from tests.support.seed004 import CREATE_SIPPEER, CREATE_SITE, ENABLE_MMS, ENABLE_SMS

START_TIMEOUT = 60.0
XML = {"Content-Type": "application/xml; charset=utf-8"}
FINAL_TYPES = ("message-delivered", "message-failed")

_rng = random.Random()


# --- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    """A database URL of its own for one test: a SQLite file, or a fresh PostgreSQL schema that
    is dropped afterwards. PostgreSQL missing: skipped locally, an error under CI=true."""
    if kind == "sqlite":
        workdir.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{workdir / 'openband.db'}"
        return
    base = postgres_base_url()  # raises under CI=true when PostgreSQL does not answer
    if base is None:
        pytest.skip("PostgreSQL is not available (set OPENBAND_TEST_POSTGRES_URL)")
    url, schema = create_pg_schema(base)
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            drop_pg_schema(base, schema)


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on a node's database, from outside the nodes (the SQLite file
    opened read-only, so no writer lock is ever taken; placeholders are `?`)."""
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.execute("PRAGMA busy_timeout = 5000")
            return [tuple(r) for r in conn.execute(sql, params)]
    import psycopg

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params)]  # type: ignore[arg-type]


FINAL_STATUSES = ("DELIVERED", "FAILED")


def unfinished(database_url: str) -> dict[str, set[Any]]:
    """The work still to happen, read from the database: recipients on their way out
    (message id, recipient), callback events still pending (event ids) and jobs (ids)."""
    return {
        "recipients": set(
            query(
                database_url,
                # On their way out (inbound copies are RECEIVED, and stay so).
                "SELECT message_id, recipient FROM message_recipients "
                "WHERE status IN ('QUEUED', 'SENDING', 'SENT')",
            )
        ),
        "callbacks": {
            r[0]
            for r in query(database_url, "SELECT id FROM callback_events WHERE status = 'pending'")
        },
        "jobs": {r[0] for r in query(database_url, "SELECT id FROM jobs")},
    }


def settled(database_url: str, rx: Receiver | None = None) -> bool:
    """Nothing more can arrive: every recipient final, no callback event pending, no job
    waiting (a carrier timer could still report), and the receiver answering no request."""
    left = unfinished(database_url)
    return not any(left.values()) and (rx is None or rx.in_flight() == 0)


def wait_settled(database_url: str, rx: Receiver | None = None, timeout: float = 30.0) -> None:
    """Wait until `settled`; on timeout, say what was left."""
    try:
        wait_until(lambda: settled(database_url, rx), timeout, 0.1, "the work to settle")
    except AssertionError:
        left = {k: sorted(v, key=str)[:5] for k, v in unfinished(database_url).items() if v}
        jobs = query(database_url, "SELECT kind, ref, run_at FROM jobs ORDER BY id LIMIT 5")
        busy = rx.in_flight() if rx is not None else 0
        raise AssertionError(
            f"not settled after {timeout:.0f}s: {left}; jobs {jobs}; {busy} requests open"
        ) from None


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Account:
    account_id: str
    username: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBAND_")}
    env.update(
        OPENBAND_DEV_ACCOUNT="false",
        OPENBAND_WORKER_POLL_SECONDS="0.05",
        OPENBAND_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def secret_keys_env(database_url: str) -> dict[str, str]:
    """A sealing key for every node of one database to share (OPENBAND_SECRET_KEYS), derived
    from the database's URL. Put it in the env of nodes started from different directories:
    each would otherwise generate a key file of its own and refuse the others' sealed secrets
    (with SQLite the key file is beside the database, so one is shared anyway)."""
    key = base64.urlsafe_b64encode(hashlib.sha256(database_url.encode()).digest()).decode()
    return {"OPENBAND_SECRET_KEYS": orjson.dumps([key]).decode()}


def create_account(database_url: str, account: Account | None = None) -> Account:
    """`openband accounts create` (works while servers run on the same database)."""
    acct = account or Account(
        account_id=str(_rng.randint(9_100_000, 9_899_999)),
        username=f"user-{_rng.getrandbits(32):08x}",
        password=f"pw-{_rng.getrandbits(64):016x}",
    )
    cmd = [
        openband_exe(), "accounts", "create",
        "--account-id", acct.account_id,
        "--username", acct.username,
        "--password", acct.password,
        "--database", database_url,
    ]  # fmt: skip
    r = subprocess.run(cmd, env=base_env(), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(
            f"`openband accounts create` failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        )
    return acct


@dataclass
class Node:
    """One `openband serve` process. `env` holds extra OPENBAND_* settings."""

    workdir: Path
    database_url: str
    name: str = "node"
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Node:
        """Start (or start again, on the same port and database) and wait until ready."""
        assert not self.alive, f"{self.name} is already running"
        self.port = self.port or free_port()
        self.starts += 1
        cmd = [
            openband_exe(), "serve",
            "--port", str(self.port),
            "--database", self.database_url,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts} of {self.name} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd,
                env=base_env(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,  # a SIGINT to pytest does not reach it
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                r = httpx.get(f"{self.base_url}/ready", timeout=2.0)
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"{self.name} not ready in {START_TIMEOUT}s ({last}):\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, claims and leases stay as they were."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 150) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def client(self, account: Account, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=account.auth, timeout=timeout)


def start_all(*nodes: Node) -> None:
    """Start several nodes at once (as a deployment would), each waited for until ready."""
    errors: list[BaseException] = []

    def go(n: Node) -> None:
        try:
            n.start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(START_TIMEOUT + 30)
    if errors:
        for n in nodes:
            n.kill()
        raise errors[0]


@contextlib.contextmanager
def running(*nodes: Node) -> Iterator[tuple[Node, ...]]:
    """Stop every node at the end, whatever happened; on failure, print their log tails."""
    try:
        yield nodes
    except BaseException:
        for n in nodes:
            print(f"\n----- {n.name} log tail ({n.log_path}) -----\n{n.log_tail()}")
        raise
    finally:
        for n in nodes:
            n.stop()


# --- the callback receiver ---------------------------------------------------------------------


@dataclass
class Hit:
    """One request the receiver got."""

    path: str
    method: str
    event_id: str
    headers: dict[str, str]
    body: bytes
    start: float
    end: float = 0.0
    answer: str = ""
    attempt: int = 0  # 0 for the first request of this event id
    peer_gone: bool = False  # the sender hung up before the answer (timeout, crash)
    sender: str = ""  # the name of the watched process that sent it ("" if unknown)

    @property
    def acked(self) -> bool:
        """Answered 2xx to a sender that was still there to read it."""
        return self.answer.startswith("2") and not self.peer_gone

    @property
    def events(self) -> list[dict[str, Any]]:
        doc = orjson.loads(self.body)
        return doc if isinstance(doc, list) else [doc]


class Receiver:
    """A webhook receiver on 127.0.0.1 (random port), served from a thread of its own.

    `script(path, answers)`: the n-th attempt of each event id on `path` gets answers[n] (the last
    answer repeats). Answers: "200", "500", …; "sleep:S" (answer 200 after S seconds, or when the
    sender hangs up); "reset" (close the connection without answering). `delay` makes every
    request wait that long first (to widen overlap windows). `files` serves GETs (media).
    `bxml[path]` is what a 200 on `path` answers (a voice app's BXML): a string, or a function
    of the request's Hit returning one.
    """

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.scripts: dict[str, list[str]] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self.bxml: dict[str, str | Callable[[Hit], str]] = {}
        self.stalls: dict[str, int] = {}
        self.delay = 0.0
        self.port = 0
        self._attempts: Counter[str] = Counter()
        self._in_flight: Counter[str] = Counter()
        self.overlaps: list[str] = []  # event ids handled twice at the same time
        self._watched: dict[int, str] = {}  # pid -> name: whose requests these are
        self._conn_sender: dict[int, str] = {}  # id(transport) -> name
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="callback-receiver")
        self._runner: web.AppRunner | None = None

    # --- lifecycle ---

    def __enter__(self) -> Receiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the callback receiver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            app = web.Application(client_max_size=8 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    # --- configuration ---

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, answers: list[str]) -> None:
        self.scripts[path] = list(answers)

    def watch(self, node: Node) -> None:
        """Tell `node`'s requests apart from the others' (Hit.sender), by their socket's owner."""
        assert node.proc is not None
        self.watch_pid(node.proc.pid, node.name)

    def watch_pid(self, pid: int, name: str) -> None:
        """Name the requests of any process (e.g. a node's delivery process)."""
        self._watched[pid] = name

    def serve_file(self, path: str, content: bytes, content_type: str, stall: int = 0) -> str:
        """Serve `content` at `path`; its first `stall` GETs hang until the fetcher gives up."""
        self.files[path] = (content, content_type)
        self.stalls[path] = stall
        return self.url(path)

    # --- reading what arrived ---

    def snapshot(self, path: str | None = None) -> list[Hit]:
        with self._lock:
            hits = [h for h in self.hits if h.end]  # finished requests only
        return [h for h in hits if path is None or h.path == path]

    def callbacks(self, path: str | None = None) -> list[Hit]:
        return [h for h in self.snapshot(path) if h.method == "POST"]

    def acked_events(self, path: str | None = None) -> dict[str, dict[str, Any]]:
        """event id -> the event (first of its body) for every acknowledged event."""
        out: dict[str, dict[str, Any]] = {}
        for h in self.callbacks(path):
            if h.acked:
                out.setdefault(h.event_id, h.events[0])
        return out

    def finals_by_recipient(self, path: str | None = None) -> dict[tuple[str, str], set[str]]:
        """(message id, recipient) -> the ids of acknowledged delivered/failed events."""
        out: dict[tuple[str, str], set[str]] = defaultdict(set)
        for eid, ev in self.acked_events(path).items():
            if ev.get("type") in FINAL_TYPES:
                out[(ev["message"]["id"], ev["to"])].add(eid)
        return out

    def in_flight(self, started_after: float = 0.0) -> int:
        """Requests not yet answered; with `started_after` (wall clock), only those that arrived
        since then, so a caller can act while they still have most of `delay` to run."""
        with self._lock:
            return sum(1 for h in self.hits if not h.end and h.start >= started_after)

    # --- handling ---

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path in self.files:
            return await self._file(request)
        body = await request.read()
        eid = request.headers.get("X-OpenBand-Event-Id", "")
        key = eid or f"{request.path}#{len(self.hits)}"
        with self._lock:
            n = self._attempts[key]
            self._attempts[key] += 1
            if eid:
                if self._in_flight[eid]:
                    self.overlaps.append(eid)
                self._in_flight[eid] += 1
            hit = Hit(
                request.path,
                request.method,
                eid,
                dict(request.headers),
                body,
                time.time(),
                attempt=n,
            )
            hit.sender = self._sender_of(request)
            self.hits.append(hit)
        answers = self.scripts.get(request.path, ["200"])
        answer = answers[min(n, len(answers) - 1)]
        try:
            if self.delay:
                await self._wait(request, hit, self.delay)
            if answer.startswith("sleep:"):
                await self._wait(request, hit, float(answer.split(":", 1)[1]))
                answer = "200"
            if answer == "reset":
                hit.peer_gone = True
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=200)
            hit.peer_gone = hit.peer_gone or _gone(request)
            doc = self.bxml.get(request.path)
            if doc is not None and answer == "200":
                text = doc(hit) if callable(doc) else doc
                return web.Response(status=200, text=text, content_type="application/xml")
            return web.Response(status=int(answer), text="ok")
        finally:
            hit.answer = answer
            hit.end = time.time()
            if eid:
                with self._lock:
                    self._in_flight[eid] -= 1

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """A GET of a served file, recorded as a hit; the first `stall` GETs of the path get no
        answer until the fetcher hangs up (a media fetch in progress when its node dies)."""
        content, ctype = self.files[request.path]
        with self._lock:
            n = self._attempts[request.path]
            self._attempts[request.path] += 1
            hit = Hit(request.path, "GET", "", dict(request.headers), b"", time.time(), attempt=n)
            hit.sender = self._sender_of(request)
            self.hits.append(hit)
        try:
            if n < self.stalls.get(request.path, 0):
                await self._wait(request, hit, 600)
                hit.peer_gone = True
                hit.answer = "none"
                return web.Response(status=503)
            hit.answer = "200"
            return web.Response(body=content, content_type=ctype)
        finally:
            hit.end = time.time()

    def fetches(self, path: str) -> list[Hit]:
        """Every GET of a served file (finished or not), in arrival order."""
        with self._lock:
            return [h for h in self.hits if h.method == "GET" and h.path == path]

    async def _wait(self, request: web.Request, hit: Hit, seconds: float) -> None:
        """Sleep, but stop early when the sender hangs up (its timeout, or it died)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if _gone(request):
                hit.peer_gone = True
                return
            await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    def _sender_of(self, request: web.Request) -> str:
        """Which watched process owns the other end of this connection (Linux /proc)."""
        t = request.transport
        if not self._watched or t is None:
            return ""
        key = id(t)
        name = self._conn_sender.get(key)
        if name is None:
            peer = t.get_extra_info("peername")
            name = _socket_owner(peer[1], self.port, self._watched) if peer else ""
            self._conn_sender[key] = name
        return name


def _socket_owner(local_port: int, remote_port: int, pids: dict[int, str]) -> str:
    """The name of the process in `pids` holding the TCP socket local_port -> remote_port."""
    inode = ""
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, remote = cols[1], cols[2]
            if int(local.split(":")[1], 16) == local_port and int(remote.split(":")[1], 16) == (
                remote_port
            ):
                inode = cols[9]
                break
    if not inode:
        return ""
    target = f"socket:[{inode}]"
    for pid, name in pids.items():
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return name
    return ""


def _gone(request: web.Request) -> bool:
    t = request.transport
    return t is None or t.is_closing()


# --- provisioning through the Dashboard API ------------------------------------------------------


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def application_xml(
    name: str,
    outbound_url: str,
    outbound_creds: tuple[str, str] | None,
    inbound_url: str,
    inbound_creds: tuple[str, str] | None,
) -> str:
    def creds(tag: str, c: tuple[str, str] | None) -> str:
        if c is None:
            return ""
        return (
            f"<{tag}><UserId>{_xml_escape(c[0])}</UserId>"
            f"<Password>{_xml_escape(c[1])}</Password></{tag}>"
        )

    return (
        "<Application><ServiceType>Messaging-V2</ServiceType>"
        f"<AppName>{_xml_escape(name)}</AppName>"
        f"<InboundCallbackUrl>{_xml_escape(inbound_url)}</InboundCallbackUrl>"
        f"<OutboundCallbackUrl>{_xml_escape(outbound_url)}</OutboundCallbackUrl>"
        f"{creds('InboundCallbackCreds', inbound_creds)}"
        f"{creds('OutboundCallbackCreds', outbound_creds)}"
        "</Application>"
    )


@dataclass
class Messaging:
    """What provision_messaging made: send with `numbers` as `from` and `app_id`."""

    account_id: str
    app_id: str
    site_id: str
    peer_id: str
    numbers: list[str]  # E.164

    def message(self, to: list[str] | str, text: str = "hello", **extra: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "applicationId": self.app_id,
            "from": self.numbers[0],
            "to": to if isinstance(to, list) else [to],
            "text": text,
        }
        doc.update(extra)
        return doc


def _expect(r: httpx.Response, *status: int) -> etree._Element | None:
    assert r.status_code in status, (
        f"{r.request.method} {r.request.url} -> {r.status_code} (expected {status})\n{r.text[:2000]}"
    )
    return etree.fromstring(r.content) if r.content.strip() else None


def _location_id(r: httpx.Response) -> str:
    return r.headers["location"].rstrip("/").rsplit("/", 1)[-1]


def provision_messaging(
    client: httpx.Client,
    account: str,
    callback_url: str,
    creds: tuple[str, str] | None,
    *,
    inbound_url: str | None = None,
    inbound_creds: tuple[str, str] | None = None,
    area_code: str = "919",
    quantity: int = 1,
    name: str = "reliability app",
    order_timeout: float = 60.0,
) -> Messaging:
    """Provision a messaging sender through the Dashboard API, as a Bandwidth customer would.

    The application's OutboundCallbackUrl is `callback_url` with OutboundCallbackCreds `creds`;
    InboundCallbackUrl/Creds are `inbound_url`/`inbound_creds` (default: the same). `client` is
    authenticated as the account's API user and has the node's base URL.
    """
    base = f"/api/accounts/{account}"
    app_xml = application_xml(
        name,
        callback_url,
        creds,
        inbound_url or callback_url,
        inbound_creds if inbound_url else (inbound_creds or creds),
    )
    doc = _expect(client.post(f"{base}/applications", content=app_xml, headers=XML), 201)
    assert doc is not None
    app_id = doc.findtext("Application/ApplicationId")
    assert app_id, etree.tostring(doc)

    r = client.post(f"{base}/sites", content=CREATE_SITE, headers=XML)
    _expect(r, 201)
    site_id = _location_id(r)
    r = client.post(f"{base}/sites/{site_id}/sippeers", content=CREATE_SIPPEER, headers=XML)
    _expect(r, 201)
    peer_id = _location_id(r)
    peer = f"{base}/sites/{site_id}/sippeers/{peer_id}"
    _expect(
        client.post(f"{peer}/products/messaging/features/sms", content=ENABLE_SMS, headers=XML), 201
    )
    _expect(
        client.post(f"{peer}/products/messaging/features/mms", content=ENABLE_MMS, headers=XML), 201
    )
    settings = (
        "<ApplicationsSettings>"
        f"<HttpMessagingV2AppId>{app_id}</HttpMessagingV2AppId>"
        "</ApplicationsSettings>"
    )
    _expect(
        client.put(f"{peer}/products/messaging/applicationSettings", content=settings, headers=XML),
        200,
    )

    tns = order_numbers(client, account, site_id, peer_id, area_code, quantity, order_timeout)
    return Messaging(account, app_id, site_id, peer_id, tns)


def order_numbers(
    client: httpx.Client,
    account: str,
    site_id: str,
    peer_id: str,
    area_code: str,
    quantity: int,
    order_timeout: float = 60.0,
) -> list[str]:
    """Order numbers onto a location and wait for the order to complete: their E.164 forms."""
    base = f"/api/accounts/{account}"
    order = (
        "<Order><AreaCodeSearchAndOrderType>"
        f"<AreaCode>{area_code}</AreaCode><Quantity>{quantity}</Quantity>"
        "</AreaCodeSearchAndOrderType>"
        f"<SiteId>{site_id}</SiteId><PeerId>{peer_id}</PeerId></Order>"
    )
    doc = _expect(client.post(f"{base}/orders", content=order, headers=XML), 201)
    assert doc is not None
    order_id = doc.findtext("Order/id")
    deadline = time.monotonic() + order_timeout
    while True:
        doc = _expect(client.get(f"{base}/orders/{order_id}"), 200)
        assert doc is not None
        status = doc.findtext("OrderStatus")
        if status == "COMPLETE":
            break
        assert status in ("RECEIVED", "PROCESSING"), etree.tostring(doc).decode()
        assert time.monotonic() < deadline, f"order {order_id} not COMPLETE in {order_timeout}s"
        time.sleep(0.1)
    tns = [e.text or "" for e in doc.findall("CompletedNumbers/TelephoneNumber/FullNumber")]
    assert len(tns) == quantity, etree.tostring(doc).decode()
    return [f"+1{tn}" for tn in tns]


@dataclass
class VoiceApp:
    """What provision_voice made: call from (and to) `numbers` with `app_id`."""

    account_id: str
    app_id: str
    site_id: str
    peer_id: str
    numbers: list[str]


def provision_voice(
    client: httpx.Client,
    account: str,
    initiate_url: str,
    status_url: str | None,
    creds: tuple[str, str] | None,
    *,
    area_code: str = "919",
    quantity: int = 1,
    name: str = "voice app",
) -> VoiceApp:
    """A Voice-V2 application (CallInitiatedCallbackUrl, CallStatusCallbackUrl, CallbackCreds)
    linked to a new location's origination settings (HttpVoiceV2AppId), with numbers on it:
    through the Dashboard API, as a Bandwidth customer does it."""
    base = f"/api/accounts/{account}"
    parts = [
        "<Application><ServiceType>Voice-V2</ServiceType>",
        f"<AppName>{_xml_escape(name)}</AppName>",
        f"<CallInitiatedCallbackUrl>{_xml_escape(initiate_url)}</CallInitiatedCallbackUrl>",
    ]
    if status_url:
        parts.append(f"<CallStatusCallbackUrl>{_xml_escape(status_url)}</CallStatusCallbackUrl>")
    if creds:
        parts.append(
            f"<CallbackCreds><UserId>{_xml_escape(creds[0])}</UserId>"
            f"<Password>{_xml_escape(creds[1])}</Password></CallbackCreds>"
        )
    parts.append("</Application>")
    doc = _expect(client.post(f"{base}/applications", content="".join(parts), headers=XML), 201)
    assert doc is not None
    app_id = doc.findtext("Application/ApplicationId")
    assert app_id, etree.tostring(doc)
    r = client.post(f"{base}/sites", content=CREATE_SITE, headers=XML)
    _expect(r, 201)
    site_id = _location_id(r)
    r = client.post(f"{base}/sites/{site_id}/sippeers", content=CREATE_SIPPEER, headers=XML)
    _expect(r, 201)
    peer_id = _location_id(r)
    origination = (
        "<SipPeerOriginationSettings><VoiceProtocol>HTTP</VoiceProtocol>"
        f"<HttpSettings><HttpVoiceV2AppId>{app_id}</HttpVoiceV2AppId></HttpSettings>"
        "</SipPeerOriginationSettings>"
    )
    _expect(
        client.post(
            f"{base}/sites/{site_id}/sippeers/{peer_id}/products/origination/settings",
            content=origination,
            headers=XML,
        ),
        201,
    )
    tns = order_numbers(client, account, site_id, peer_id, area_code, quantity)
    return VoiceApp(account, app_id, site_id, peer_id, tns)


# --- messaging helpers -------------------------------------------------------------------------


def handset(npa: str = "984") -> str:
    """A random virtual handset: never owned (numbers are only ordered in other area codes) and
    clear of the simulator's reserved 555-01xx lines."""
    while True:
        nxx = _rng.randint(200, 999)
        if nxx != 555:
            return f"+1{npa}{nxx}{_rng.randint(0, 9999):04d}"


def reserved(line: str, npa: str = "984") -> str:
    """A reserved test number of the simulator, e.g. reserved('0101') fails 4720."""
    return f"+1{npa}555{line}"


def basic(creds: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()


def message_states(
    client: httpx.Client, account: str, message_ids: list[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(message id, recipient) -> the list item, through GET /api/v2/users/{acct}/messages."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    ids = list(dict.fromkeys(message_ids))
    for i in range(0, len(ids), 100):
        chunk = ids[i : i + 100]
        r = client.get(
            f"/api/v2/users/{account}/messages",
            params={"messageId": ",".join(chunk), "limit": "1000"},
        )
        assert r.status_code == 200, r.text
        for item in r.json()["messages"]:
            out[(item["messageId"], item["destinationTn"])] = item
    return out


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll `predicate()` until it returns a truthy value; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
