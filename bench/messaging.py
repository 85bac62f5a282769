"""Benchmark (not a test): accepted messages/s (durable 202) and p99, end to end to callbacks,
callback delivery alone, server RSS; each figure next to a bare Starlette endpoint of the same run.

    .venv/bin/python bench/messaging.py [--backends sqlite,postgres] [--seconds 15]
                                        [--connections 64] [--workers 1] [--write-docs]
    .venv/bin/python bench/messaging.py --soak 300 [--backends sqlite]   # RSS over 5 minutes

For each backend and each --delivery-processes value (default 0 and 1), runs `openband serve
--workers N --delivery-processes D` (uvicorn) on a free 127.0.0.1 port against a fresh database
provisioned with one account, a messaging application whose OutboundCallbackUrl is a local sink
(bench/sink.py: a separate process that answers 204 and counts events), a location with SMS and
a number. Load: wrk (apt package `wrk`) posting one SMS per request to a simulator
handset that delivers. Before measuring, the bench waits for the server to go idle (the exchange
index is built at start), runs a 3 s warm-up and waits for its callbacks.

Figures, all from one run:
- bare Starlette: one uvicorn process, parses the JSON and answers 202: the HTTP stack's ceiling;
- accepted/s, p50, p99: wrk's; "durable" compares recipient rows with 2xx answers;
- two runs per backend: "as fast as accepted" (wrk unpaced) and "offered N/s" (--e2e-rate, each
  connection paced by wrk's delay()): the first measures accept capacity, the second whether the
  whole pipeline keeps pace with a steady load;
- end to end: message-delivered callbacks acknowledged by the sink during the load window, per
  second, and the backlog (accepted, not yet acknowledged) when the load stopped;
- server CPU per message: CPU seconds of the server's processes from the start of a run until
  its backlog is drained, over the messages accepted (the figure a noisy machine moves least);
- callback delivery alone: N events already in the outbox, then drained to the sink by a
  DeliveryWorker in one process, or by 1 and 2 delivery processes (--delivery-alone), on SQLite
  and PostgreSQL (--delivery-backends), next to a bare aiohttp client posting as many
  (bench/webhooks.py);
- server RSS: the peak of the largest server process, sampled every 0.5 s through the run.
Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("openband")
ACCOUNT, USER, PASSWORD = "9900001", "bench", "bench-password"
FROM_TN, TO_TN = "+19195550000", "+14155550199"
PG_BASE = os.environ.get("OPENBAND_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

BARE = textwrap.dedent(
    """
    import sys, orjson, uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    async def post(request):
        doc = orjson.loads(await request.body())
        return Response(orjson.dumps({"id": "x", "to": doc.get("to")}), 202,
                        media_type="application/json")
    app = Starlette(routes=[Route("/users/{acct}/messages", post, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident MB; field RssAnon leaves out file pages (SQLite's mmap of the database)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def family(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def wait_idle(pid: int, timeout: float = 60.0) -> None:
    """Until the server uses < 15 % of a core for a second (start-up work is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(family(pid))
        time.sleep(1.0)
        if cpu_seconds(family(pid)) - before < 0.15:
            return


class RssSampler:
    """Peak RSS of the largest process of the server's family, sampled in a thread."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        import threading

        self.pid, self.every = pid, every
        self.peak = 0.0
        self.peak_anon = 0.0
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.every):
            pids = family(self.pid)
            largest = max((rss_mb(p) for p in pids), default=0.0)
            self.peak = max(self.peak, largest)
            anon = max((rss_mb(p, "RssAnon") for p in pids), default=0.0)
            self.peak_anon = max(self.peak_anon, anon)
            self.samples.append((time.monotonic() - t0, largest))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def _webhooks():  # type: ignore[no-untyped-def]
    """bench/webhooks.py: the bench's key (one for every process it starts) and the rest."""
    sys.path.insert(0, str(ROOT))
    from bench import webhooks

    return webhooks


def provision(url: str, sink_url: str) -> None:
    """Account, application, site, SMS location and the sending number, straight into the DB."""
    from openband.core import accounts
    from openband.core import provisioning as prov
    from openband.store import numbers
    from openband.store.db import Database, migrate

    migrate(url)

    async def go() -> None:
        db = Database(url, pool_size=2)
        try:
            async with db.begin() as conn:
                await accounts.create_account(
                    conn, accounts.NewAccount(ACCOUNT, USER, PASSWORD, name="bench")
                )
                app = await prov.create_application(
                    conn,
                    ACCOUNT,
                    prov.ApplicationInput(
                        "Messaging-V2", "bench", {"outbound_callback_url": sink_url}
                    ),
                    sealer=_webhooks().sealer(),
                )
                address = {
                    "house_number": "1",
                    "street_name": "MAIN",
                    "city": "RALEIGH",
                    "state_code": "NC",
                    "zip": "27601",
                }
                site = await prov.create_site(conn, ACCOUNT, prov.SiteInput("s", address=address))
                peer = await prov.create_peer(conn, ACCOUNT, site.id, prov.PeerInput("p"))
                await prov.set_sms_feature(
                    conn, ACCOUNT, site.id, peer.id, {"protocol": "HTTP"}, create=True
                )
                await prov.link_messaging_application(conn, ACCOUNT, site.id, peer.id, app.id)
                await numbers.insert_new(
                    conn,
                    [
                        {
                            "tn": FROM_TN,
                            "account_id": ACCOUNT,
                            "site_id": site.id,
                            "peer_id": peer.id,
                            "npa": "919",
                            "nxx": "555",
                        }
                    ],
                    db.dialect,
                )
                Path(tempfile.gettempdir(), "openband-bench-app").write_text(app.id)
        finally:
            await db.dispose()

    asyncio.run(go())


def count_rows(url: str) -> tuple[int, int]:
    """(recipients accepted, recipients delivered)."""
    from sqlalchemy import create_engine, text

    from openband.store.db import resolve_urls

    engine = create_engine(resolve_urls(url).sync_url)
    try:
        with engine.connect() as c:
            total = c.execute(text("SELECT count(*) FROM message_recipients")).scalar_one()
            done = c.execute(
                text("SELECT count(*) FROM message_recipients WHERE status = 'DELIVERED'")
            ).scalar_one()
            return int(total), int(done)
    finally:
        engine.dispose()


def wrk(
    port: int,
    path: str,
    body: str,
    seconds: int,
    connections: int,
    rate: float = 0.0,
    pace_ms: float = 0.0,
) -> dict[str, float]:
    """wrk's figures; with `rate`, each connection waits `pace_ms` before each request (see
    `paced`), an offered load of about `rate` requests/s for the end-to-end run."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    auth = __import__("base64").b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    pacing = f"function delay() return {pace_ms:.3f} end\n" if rate else ""
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
        f"wrk.headers['Content-Type'] = 'application/json'\n"
        f"wrk.headers['Authorization'] = 'Basic {auth}'\n{pacing}"
    )
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    script.unlink()

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    reqs = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": reqs,
        "ok": reqs - (int(non2xx.group(1)) if non2xx else 0),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": ms("50%"),
        "p99": ms("99%"),
        "socket_errors": 1.0 if errors else 0.0,
    }


def calibrate(port: int, path: str, body: str, connections: int, rate: float) -> float:
    """The per-request pause (ms) for about `rate` req/s: wrk's delay() adds to each request's
    latency, which grows with the rate, so short runs correct it (what was achieved vs the
    target) until within 3 %, at most five times."""
    pace = connections * 1000 / rate
    for _ in range(5):
        got = wrk(port, path, body, 3, connections, rate, pace)["rps"]
        if abs(got - rate) <= 0.03 * rate:
            break
        pace = max(0.0, pace - connections * 1000 * (1 / max(got, 1.0) - 1 / rate))
    return pace


def sink_stats(port: int) -> dict[str, float]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


def start_sink(port: int) -> subprocess.Popen[bytes]:
    sys.path.insert(0, str(ROOT))
    from bench import sink

    return sink.start(port)


def start_server(
    url: str, port: int, workers: int, delivery_processes: int = 0
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OPENBAND_DEV_ACCOUNT": "false",
        "OPENBAND_LOG_LEVEL": "WARNING",
        "OPENBAND_DATABASE_URL": url,
        **_webhooks().KEY_ENV,
    }
    return subprocess.Popen(
        [
            str(BIN),
            "serve",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--workers",
            str(workers),
            "--delivery-processes",
            str(delivery_processes),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def wait_drained(url: str, sink_port: int, timeout: float) -> None:
    """Until every recipient is delivered and its callback acknowledged (or the timeout)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        total, done = count_rows(url)
        if done >= total and sink_stats(sink_port)["count"] >= total:
            return
        time.sleep(0.25)


def run_backend(
    name: str,
    url: str,
    seconds: int,
    connections: int,
    workers: int,
    e2e_rate: float,
    delivery_processes: int = 0,
    e2e_connections: int = 256,
) -> dict[str, object]:
    sink_port, port = free_port(), free_port()
    sink = start_sink(sink_port)
    server = None
    try:
        provision(url, f"http://127.0.0.1:{sink_port}/cb")
        app_id = Path(tempfile.gettempdir(), "openband-bench-app").read_text()
        server = start_server(url, port, workers, delivery_processes)
        wait_port(port)
        wait_idle(server.pid)
        rss = RssSampler(server.pid)
        body = (
            f'{{"applicationId":"{app_id}","from":"{FROM_TN}","to":["{TO_TN}"],'
            f'"text":"Hello from the OpenBand benchmark"}}'
        )
        path = f"/api/v2/users/{ACCOUNT}/messages"
        wrk(port, path, body, 3, connections)  # warm-up: caches and connection pools
        wait_drained(url, sink_port, 60)
        out: dict[str, object] = {"backend": name, "delivery_processes": delivery_processes}
        for run, rate in (("max", 0.0), ("e2e", e2e_rate)):
            if run == "e2e" and not rate:
                continue
            # Paced: more connections, each waiting longer, so the latency that wrk's delay() adds
            # to is a smaller part of each period and the achieved rate drifts less from N.
            conns = e2e_connections if rate else connections
            pace = calibrate(port, path, body, conns, rate) if rate else 0.0
            wait_drained(url, sink_port, 180)
            before_total, _ = count_rows(url)
            s0 = sink_stats(sink_port)["count"]
            c0 = cpu_seconds(family(server.pid))
            load = os.getloadavg()[0]
            t0 = time.time()
            res = wrk(port, path, body, seconds, conns, rate, pace)
            t1 = time.time()
            s1 = sink_stats(sink_port)["count"]
            total, _ = count_rows(url)
            accepted = total - before_total
            wait_drained(url, sink_port, 180)
            s2 = sink_stats(sink_port)
            cpu = cpu_seconds(family(server.pid)) - c0
            out[run] = {
                **res,
                "durable": accepted,
                "cb_during": (s1 - s0) / (t1 - t0),
                "backlog": max(0, accepted - (s1 - s0)),
                "drain_s": max(0.0, s2["last"] - t1),
                "cpu_us": cpu / max(1, accepted) * 1e6,  # server CPU per message, drain included
                "load": load,
            }
        out["rss_mb"] = rss.stop()
        return out
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        sink.terminate()
        sink.wait(5)


def run_soak(
    name: str,
    url: str,
    seconds: int,
    connections: int,
    workers: int,
    delivery_processes: int,
    rate: float = 0.0,
    paced_connections: int = 256,
) -> None:
    """Load for `seconds` in one-minute wrk rounds; RSS and throughput per round. With `rate`,
    each round offers about `rate` requests/s (paced as the end-to-end run is)."""
    sink_port, port = free_port(), free_port()
    sink = start_sink(sink_port)
    server = None
    try:
        provision(url, f"http://127.0.0.1:{sink_port}/cb")
        app_id = Path(tempfile.gettempdir(), "openband-bench-app").read_text()
        server = start_server(url, port, workers, delivery_processes)
        wait_port(port)
        wait_idle(server.pid)
        rss = RssSampler(server.pid, every=1.0)
        body = (
            f'{{"applicationId":"{app_id}","from":"{FROM_TN}","to":["{TO_TN}"],'
            f'"text":"Hello from the OpenBand benchmark"}}'
        )
        path = f"/api/v2/users/{ACCOUNT}/messages"
        pace = 0.0
        if rate:
            connections = paced_connections
            pace = calibrate(port, path, body, connections, rate)
            wait_drained(url, sink_port, 180)
        offered = f", offered {rate:.0f}/s" if rate else ", unpaced"
        print(
            f"soak: {name}, {workers} worker(s), {delivery_processes} delivery process(es), "
            f"{seconds} s, wrk -c{connections}{offered}"
        )
        print("| minute | accepted/s | p99 ms | callbacks/s | largest server RSS MB |")
        print("|---|---|---|---|---|")
        done, minute = 0, 0
        while done < seconds:
            step = min(60, seconds - done)
            s0 = sink_stats(sink_port)["count"]
            t0 = time.time()
            res = wrk(port, path, body, step, connections, rate, pace)
            cb = (sink_stats(sink_port)["count"] - s0) / (time.time() - t0)
            now_rss = rss.samples[-1][1] if rss.samples else 0.0
            minute += 1
            done += step
            print(f"| {minute} | {res['rps']:.0f} | {res['p99']:.1f} | {cb:.0f} | {now_rss:.0f} |")
        wait_drained(url, sink_port, 180)
        peak = rss.stop()
        first = rss.samples[0][1] if rss.samples else 0.0
        total, delivered = count_rows(url)
        print(
            f"RSS: {first:.0f} MB after warm start, peak {peak:.0f} MB (anonymous memory alone "
            f"{rss.peak_anon:.0f} MB; the rest is file pages, SQLite's mmap of the database); "
            f"{delivered}/{total} delivered, {sink_stats(sink_port)['count']} callbacks acked; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        sink.terminate()
        sink.wait(5)


def run_delivery(n: int, processes: list[int], backends: list[str]) -> list[dict[str, object]]:
    """Callback delivery alone (bench/webhooks.py): n events in the outbox, then drained to the
    sink by a DeliveryWorker in the bench's own process (0, the server-process case) or by N
    delivery processes (`--delivery-processes N`), on each backend; beside them, in the same
    run, one bare aiohttp client posting the same n bodies (its ceiling on this machine)."""
    sys.path.insert(0, str(ROOT))
    import uvloop

    from bench import webhooks

    proc, port = webhooks.start_sink()
    rows: list[dict[str, object]] = []
    try:
        url = f"http://127.0.0.1:{port}/cb"
        load = os.getloadavg()[0]
        took = uvloop.run(webhooks.bare_aiohttp(url, n))
        rows.append(
            {"label": "bare aiohttp client", "rate": n / took, "seconds": took, "load": load}
        )
        for backend in backends:
            name = "PostgreSQL" if backend == "postgres" else "SQLite"
            for k in processes:
                db_url, schema = webhooks.fresh_database(backend, PG_BASE)
                try:
                    load = os.getloadavg()[0]
                    if k == 0:
                        took = uvloop.run(_drain_in_process(webhooks, db_url, url, n))
                        label = f"{name}, in the server process"
                    else:
                        took = webhooks.processes_drain(db_url, url, n, k)
                        label = f"{name}, {k} delivery process{'es' if k > 1 else ''}"
                finally:
                    if schema:
                        drop_schema(str(schema))
                rows.append({"label": label, "rate": n / took, "seconds": took, "load": load})
        return rows
    finally:
        proc.kill()


async def _drain_in_process(webhooks, db_url: str, url: str, n: int) -> float:  # type: ignore[no-untyped-def]
    from openband.config import Settings
    from openband.delivery.worker import DeliveryWorker
    from openband.store.db import Database

    settings = Settings(database_url=db_url, worker_poll_seconds=0.05)
    db = Database(db_url)
    try:
        await webhooks._enqueue_all(db, url, n)
        worker = DeliveryWorker(settings, db, sealer=webhooks.sealer())
        t = time.perf_counter()
        worker.start()
        await webhooks._wait_delivered(db, n, worker)
        took = time.perf_counter() - t
        await worker.stop()
        return took
    finally:
        await db.dispose()


def run_bare(seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(port)])
    try:
        wait_port(port)
        body = f'{{"applicationId":"x","from":"{FROM_TN}","to":["{TO_TN}"],"text":"Hello"}}'
        wrk(port, f"/users/{ACCOUNT}/messages", body, 3, connections)
        return wrk(port, f"/users/{ACCOUNT}/messages", body, seconds, connections)
    finally:
        proc.terminate()
        proc.wait(5)


def pg_schema() -> tuple[str, str] | None:
    try:
        import psycopg

        schema = f"obbench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:  # no PostgreSQL here: skip that backend
        print(f"PostgreSQL skipped: {exc}")
        return None
    sep = "&" if "?" in PG_BASE else "?"
    return f"{PG_BASE}{sep}options=-csearch_path%3D{schema}", schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument(
        "--e2e-connections", type=int, default=256, help="wrk connections of the paced run"
    )
    ap.add_argument("--workers", type=int, default=1, help="openband serve --workers")
    ap.add_argument(
        "--e2e-rate", type=float, default=2000, help="offered msg/s of the end-to-end run (0: skip)"
    )
    ap.add_argument(
        "--delivery-processes",
        default="0,1",
        help="openband serve --delivery-processes for the message runs (comma-separated: each)",
    )
    ap.add_argument("--callbacks", type=int, default=30000, help="events for delivery alone")
    ap.add_argument(
        "--delivery-alone",
        default="0,1,2",
        help="delivery alone: 0 = a worker in one process, N = N delivery processes",
    )
    ap.add_argument(
        "--delivery-backends",
        default="sqlite,postgres",
        help="backends of the delivery-alone runs (comma-separated; empty: skip them)",
    )
    ap.add_argument("--soak", type=int, default=0, help="seconds of load for the RSS check")
    ap.add_argument(
        "--soak-rate", type=float, default=0, help="offered msg/s of the soak (0: unpaced)"
    )
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    def databases():  # type: ignore[no-untyped-def]
        for backend in (b for b in args.backends.split(",") if b):
            if backend == "sqlite":
                tmp = tempfile.mkdtemp(prefix="obbench-")
                yield "SQLite", f"sqlite:///{tmp}/openband.db", None
            elif backend == "postgres":
                made = pg_schema()
                if made is not None:
                    yield "PostgreSQL", made[0], made[1]

    if args.soak:
        for name, url, schema in databases():
            try:
                run_soak(
                    name,
                    url,
                    args.soak,
                    args.connections,
                    args.workers,
                    int(args.delivery_processes.split(",")[-1]),
                    args.soak_rate,
                    args.e2e_connections,
                )
            finally:
                if schema:
                    drop_schema(schema)
        return

    bare = run_bare(args.seconds, args.connections)
    bare["load"] = os.getloadavg()[0]
    rows = []
    for dp in (int(x) for x in args.delivery_processes.split(",") if x):
        for name, url, schema in databases():
            try:
                rows.append(
                    run_backend(
                        name,
                        url,
                        args.seconds,
                        args.connections,
                        args.workers,
                        args.e2e_rate,
                        dp,
                        args.e2e_connections,
                    )
                )
            finally:
                if schema:
                    drop_schema(schema)
    alone = [int(x) for x in args.delivery_alone.split(",") if x]
    alone_on = [b for b in args.delivery_backends.split(",") if b]
    cb = run_delivery(args.callbacks, alone, alone_on) if alone and alone_on else []

    cpu = platform.processor() or platform.machine()
    head = (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; wrk -t1 "
        f"-c{args.connections} (paced runs -c{args.e2e_connections}) -d{args.seconds}s; "
        f"`openband serve --workers {args.workers} "
        "--delivery-processes N`; "
        "load generator and callback sink on the same box; "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    b = bare["rps"]
    lines = [
        "| Run | req/s | p50 ms | p99 ms | vs bare | 202s durable | callbacks acked/s during "
        "load | backlog at end | drain | server CPU per message | largest server RSS "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| bare Starlette, 1 process (parse JSON, 202) | {b:.0f} | {bare['p50']:.1f} "
        f"| {bare['p99']:.1f} | 1.00 | – | – | – | – | – | – | {bare['load']:.1f} |",
    ]
    runs = (("max", "as fast as accepted"), ("e2e", f"offered {args.e2e_rate:.0f}/s"))
    for row in rows:
        for run, label in runs:
            r = row.get(run)
            if not isinstance(r, dict):
                continue
            dp = row["delivery_processes"]
            where = f"{dp} delivery process{'es' if dp != 1 else ''}" if dp else "one process"
            lines.append(
                f"| POST messages, {row['backend']}, {where}, {label} | {r['rps']:.0f} "
                f"| {r['p50']:.1f} "
                f"| {r['p99']:.1f} | {r['rps'] / b:.2f} | {r['durable']}/{r['ok']:.0f} "
                f"| {r['cb_during']:.0f} | {r['backlog']} | {r['drain_s']:.1f} s "
                f"| {r['cpu_us']:.0f} µs | {row['rss_mb']:.0f} MB | {r['load']:.1f} |"
            )
    ceiling = cb[0]["rate"] if cb else 1.0
    for c in cb:
        lines.append(
            f"| callback delivery alone ({args.callbacks} events): {c['label']} "
            f"| {c['rate']:.0f} events/s | – | – | {c['rate'] / ceiling:.2f} of bare aiohttp "
            f"| – | – | – | {c['seconds']:.1f} s | – | – | {c['load']:.1f} |"  # type: ignore[operator]
        )
    table = "\n".join(lines)
    print(head)
    print(table)
    if args.write_docs:
        write_docs(head, table)


def write_docs(head: str, table: str) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start = text.find("## Messaging")
    marker = "<!-- bench/messaging.py table -->"
    if start == -1 or marker not in text[start:]:
        print(f"{doc}: no '{marker}' in the Messaging section; table not written")
        return
    end = text.find("\n## ", start + 1)
    end = len(text) if end == -1 else end
    section = text[start:end]
    a = section.index(marker) + len(marker)
    b = section.find("<!-- end -->", a)
    section = section[:a] + f"\n\n{head}.\n\n{table}\n\n" + section[b:]
    doc.write_text(text[:start] + section + text[end:])
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
