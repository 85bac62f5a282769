"""Callback delivery throughput: the outbox engine vs a bare aiohttp loop vs httpx.

    .venv/bin/python -m bench.webhooks [-n 20000] [--pg URL] [--per-host 32 256] [--no-write]

A local sink (bench/sink.py, httptools on uvloop) runs in a separate process and answers 204
to every POST. Figures:
- engine e2e: from the first enqueue (transactions of 500 events, worker already running) until
  the outbox shows every event delivered (acknowledged by the sink and recorded);
- engine drain: the same N events enqueued first, then the worker started: delivery alone;
- aiohttp / httpx: the same N POSTs from one client, no database (aiohttp: 32 coroutines
  posting in a loop, as the worker's senders do; httpx: 256 in flight).
Everything runs on uvloop, as `openband serve` does.
Results are printed and written to docs/benchmarks.md under "Callback delivery".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

from openband.sealing import Sealer, generate_key

ROOT = Path(__file__).resolve().parents[1]
BODY = (
    b'[{"type":"message-delivered","time":"2026-01-01T00:00:00.000Z","description":"ok",'
    b'"to":"+15550001","message":{"id":"1589228074636lm4k2je7j7jklbn2","owner":"+15550002",'
    b'"applicationId":"93de2206-9669-4e07-948d-329f4b722ee2","time":"2026-01-01T00:00:00.000Z",'
    b'"segmentCount":1,"direction":"out","to":["+15550001"],"from":"+15550002","text":""}}]'
)
CONCURRENCY = 256
# One key for this bench and every server and delivery process it starts: callback passwords
# are sealed in the outbox and opened to send (docs/security.md, "Secrets at rest").
KEY = generate_key()
KEY_ENV = {"OPENBAND_SECRET_KEYS": f'["{KEY}"]'}


def sealer() -> Sealer:
    return Sealer([KEY])


# --- the sink (bench/sink.py, a separate process) ------------------------------------------------


def start_sink() -> tuple[subprocess.Popen[bytes], int]:
    from bench import sink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return sink.start(port), port


# --- baselines -----------------------------------------------------------------------------------


async def bare_aiohttp(url: str, n: int, connections: int = 32) -> float:
    """n POSTs from one aiohttp session: `connections` coroutines, each posting in a loop (the
    pattern of the worker's per-host senders; 32 = callback_per_host's default). A task per POST
    behind a semaphore, the earlier form of this baseline, ran at about 7,000/s here, this at
    16,000-18,000/s: the figure the issue quotes for "one aiohttp client process"."""
    import aiohttp

    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def loop(k: int) -> None:
            for _ in range(k):
                async with session.post(url, data=BODY) as r:
                    await r.read()
                    assert r.status == 204

        share, extra = divmod(n, connections)
        t = time.perf_counter()
        await asyncio.gather(*(loop(share + (i < extra)) for i in range(connections)))
        return time.perf_counter() - t


async def bare_httpx(url: str, n: int) -> float:
    import httpx

    sem = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            async with sem:
                r = await client.post(url, content=BODY)
                assert r.status_code == 204

        t = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return time.perf_counter() - t


# --- the engine ----------------------------------------------------------------------------------


async def _enqueue_all(db, url: str, n: int, chunk: int = 500) -> None:  # type: ignore[no-untyped-def]
    from openband.delivery import outbox

    body = BODY.decode() if isinstance(BODY, bytes) else BODY
    for start in range(0, n, chunk):
        async with db.begin() as conn:
            await outbox.enqueue(
                conn,
                [
                    outbox.Webhook(
                        account_id="9900001",
                        application_id="93de2206-9669-4e07-948d-329f4b722ee2",
                        kind="messaging",
                        url=url,
                        body=body,
                        event_type="message-delivered",
                        ordering_key=f"m{i}:+15550001",
                        auth=("cbuser", "cbpass"),
                        message_id=f"m{i}",
                    )
                    for i in range(start, min(n, start + chunk))
                ],
                sealer=sealer(),
            )


async def _wait_delivered(db, n: int, worker=None, timeout: float = 600) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from openband.store import callbacks as repo

    # Watch the worker's own count of recorded deliveries (or, without it, ask whether any event
    # is pending: one index probe), then check the outbox once. Polling a count by status (a
    # table scan) took a fifth of a core from the run being measured.
    pending = text("SELECT 1 FROM callback_events WHERE status = 'pending' LIMIT 1")
    deadline = time.monotonic() + timeout
    while True:
        if worker is not None:
            left = worker.stats["delivered"] < n
        else:
            async with db.connect() as conn:
                left = (await conn.execute(pending)).first() is not None
        if not left:
            async with db.connect() as conn:
                counts = await repo.count_by_status(conn)
            if counts.get(repo.DELIVERED, 0) >= n:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"not delivered in time ({n} expected)")
        await asyncio.sleep(0.01 if worker is not None else 0.05)


async def engine(db_url: str, url: str, n: int, per_host: int) -> dict[str, float]:
    from sqlalchemy import text

    from openband.config import Settings
    from openband.delivery.worker import DeliveryWorker
    from openband.store.db import Database

    settings = Settings(
        database_url=db_url,
        callback_concurrency=CONCURRENCY,
        callback_per_host=per_host,
        worker_poll_seconds=0.05,
    )
    db = Database(db_url)
    out: dict[str, float] = {}
    try:
        # End to end: enqueue while the worker delivers.
        worker = DeliveryWorker(settings, db, sealer=sealer())
        worker.start()
        t = time.perf_counter()
        await _enqueue_all(db, url, n)
        out["enqueue_s"] = time.perf_counter() - t
        worker.wake()
        await _wait_delivered(db, n, worker)
        out["e2e_s"] = time.perf_counter() - t
        await worker.stop()
        async with db.begin() as conn:
            await conn.execute(text("DELETE FROM callback_attempts"))
            await conn.execute(text("DELETE FROM callback_events"))
        # Drain: delivery alone, from a full outbox.
        await _enqueue_all(db, url, n)
        worker = DeliveryWorker(settings, db, sealer=sealer())
        t = time.perf_counter()
        worker.start()
        await _wait_delivered(db, n, worker)
        out["drain_s"] = time.perf_counter() - t
        await worker.stop()
    finally:
        await db.dispose()
    return out


def processes_drain(db_url: str, url: str, n: int, processes: int) -> float:
    """Delivery alone from `processes` delivery processes, as `openband serve
    --delivery-processes N` runs them (delivery/process.py): the processes are started and left
    to settle, stopped (SIGSTOP) while n events are enqueued, then continued and nudged; returns
    the seconds until every event is delivered.

    Stopping them, rather than holding the events under a claim and releasing it, leaves each
    event as one row version, as an enqueue does in service: the hold and the release were two
    UPDATEs of every row, three versions with their index entries for the claim to step over."""
    import asyncio as aio
    import signal

    from sqlalchemy import text

    from openband.delivery.nudge import Nudger
    from openband.delivery.process import Supervisor
    from openband.store.db import Database

    pending = text("SELECT 1 FROM callback_events WHERE status = 'pending' LIMIT 1")

    async def enqueue() -> None:
        db = Database(db_url)
        try:
            await _enqueue_all(db, url, n)
        finally:
            await db.dispose()

    async def drained(t: float) -> float:
        db = Database(db_url)
        try:
            while True:
                async with db.connect() as conn:
                    if (await conn.execute(pending)).first() is None:
                        return time.perf_counter() - t
                await aio.sleep(0.02)
        finally:
            await db.dispose()

    namespace = f"bench-{os.getpid()}-{time.monotonic_ns()}"
    env = {
        "OPENBAND_DATABASE_URL": db_url,
        "OPENBAND_DELIVERY_NAMESPACE": namespace,
        "OPENBAND_CALLBACK_CONCURRENCY": str(CONCURRENCY),
        "OPENBAND_WORKER_POLL_SECONDS": "0.05",
        "OPENBAND_LOG_LEVEL": "WARNING",
        **KEY_ENV,
    }
    supervisor = Supervisor(env, processes)
    nudger = Nudger(namespace, processes)
    supervisor.start()
    procs = [p for p in supervisor.procs if p is not None]
    try:
        time.sleep(3.0)  # imports and connections: not part of the figure
        _stop_outside_writes([p.pid for p in procs], db_url)
        try:
            uvloop.run(enqueue())
        finally:
            for p in procs:
                os.kill(p.pid, signal.SIGCONT)
        t = time.perf_counter()
        nudger.wake()
        return uvloop.run(drained(t))
    finally:
        supervisor.stop()
        nudger.close()


def _stop_outside_writes(pids: list[int], db_url: str) -> None:
    """SIGSTOP the processes at a moment none of them is inside a SQLite write: one stopped
    holding the writers' lock (`<db>.writers`, store/db/writer_queue.py) would keep the enqueue
    waiting until it is continued (seen once in ~10 runs: the idle claim polls every 50 ms)."""
    import fcntl
    import signal

    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    lock = (
        f"{Path(url.database or '').resolve()}.writers"
        if url.get_backend_name() == "sqlite"
        else None
    )
    for _ in range(1000):
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        if lock is None:
            return
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return
        except BlockingIOError:
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            time.sleep(0.005)
        finally:
            os.close(fd)
    raise RuntimeError("the delivery processes never left their writes")


def fresh_database(kind: str, pg_base: str | None) -> tuple[str, object]:
    from openband.store.db import migrate

    if kind == "sqlite":
        tmp = tempfile.mkdtemp(prefix="obbench-")
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        return url, None
    sys.path.insert(0, str(ROOT))
    from tests.support.backends import create_pg_schema

    assert pg_base
    url, schema = create_pg_schema(pg_base)
    migrate(url)
    return url, schema


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, {platform.system()}"


def write_docs(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = "## Callback delivery"
    if heading in text:  # replace only our own section
        start = text.index(heading)
        nxt = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--pg", default=os.environ.get("OPENBAND_TEST_POSTGRES_URL"))
    ap.add_argument("--per-host", type=int, nargs="*", default=[32, 256])
    ap.add_argument("--httpx-n", type=int, default=5000, help="httpx is slow: fewer POSTs")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.pg is None:
        sys.path.insert(0, str(ROOT))
        from tests.support.backends import postgres_base_url

        args.pg = postgres_base_url()

    proc, port = start_sink()
    url = f"http://127.0.0.1:{port}/cb"
    n = args.n
    rows: list[tuple[str, str, float, str]] = []
    try:
        secs = uvloop.run(bare_aiohttp(url, n))
        rows.append(("bare aiohttp loop", "-", n / secs, f"{secs:.2f} s"))
        hn = min(n, args.httpx_n)
        secs = uvloop.run(bare_httpx(url, hn))
        rows.append(("bare httpx loop", f"n={hn}", hn / secs, f"{secs:.2f} s"))
        backends = ["sqlite"] + (["postgresql"] if args.pg else [])
        for backend in backends:
            for per_host in args.per_host:
                db_url, schema = fresh_database(backend, args.pg)
                try:
                    r = uvloop.run(engine(db_url, url, n, per_host))
                finally:
                    if schema:
                        from tests.support.backends import drop_pg_schema

                        drop_pg_schema(args.pg, str(schema))
                label = f"engine, {backend}, per_host={per_host}"
                rows.append(
                    (label + ": drain", "delivery only", n / r["drain_s"], f"{r['drain_s']:.2f} s")
                )
                rows.append(
                    (
                        label + ": e2e",
                        f"enqueue {n / r['enqueue_s']:.0f}/s",
                        n / r["e2e_s"],
                        f"{r['e2e_s']:.2f} s",
                    )
                )
                print(rows[-2], rows[-1], flush=True)
    finally:
        proc.kill()

    base = rows[0][2]
    lines = [
        f"| {name} | {note} | {rate:,.0f} | {rate / base:.2f} | {took} |"
        for name, note, rate, took in rows
    ]
    table = "\n".join(
        [
            "| run | note | events/s | vs bare aiohttp | time |",
            "|---|---|---:|---:|---:|",
            *lines,
        ]
    )
    print(table)
    section = (
        "## Callback delivery\n\n"
        f"`.venv/bin/python -m bench.webhooks -n {n}` — {n} messaging callbacks (JSON array, "
        f"{len(BODY)} bytes, Basic auth) to a local sink in a separate process "
        "(bench/sink.py: httptools on uvloop); the bare aiohttp client posts from 32 "
        "connections in loops (the worker's per-host senders), "
        f"httpx with {CONCURRENCY} in flight. Machine: {machine()}. "
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 1-minute load average when "
        f"the run ended {os.getloadavg()[0]:.1f} (on 2 cores: other work shared the CPU; "
        "compare the ratios more than the absolute rates).\n\n"
        "- *drain*: N events already in the outbox, then the worker starts: claim, POST, record.\n"
        "- *e2e*: from the first enqueue (transactions of 500) to every event recorded "
        "delivered, with the worker running alongside.\n"
        "- *bare aiohttp / httpx*: the same POSTs from a client loop with no database.\n"
        "- The end is seen in the worker's own count of recorded deliveries, then checked in the "
        "outbox once (runs before 2026-11-22 polled a count by status, a table scan).\n\n"
        f"{table}\n"
    )
    if not args.no_write:
        write_docs(section)


if __name__ == "__main__":
    main()
