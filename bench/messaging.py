"""Benchmark (not a test): accepted messages/s (durable 202) and p99, end to end to callbacks.

    .venv/bin/python bench/messaging.py [--backends sqlite,postgres] [--seconds 15]
                                        [--connections 64] [--write-docs]

For each backend, runs `openband serve` (uvicorn, one process) on a free 127.0.0.1 port against a
fresh database provisioned with one account, a messaging application whose OutboundCallbackUrl is
a local aiohttp sink (a separate process that answers 204 and counts events), a location with
SMS and a number. Load: wrk (apt package `wrk`) posting one SMS per request to a simulator
handset. Measured in the same run: a bare Starlette endpoint (same uvicorn, parses the JSON and
answers 202) as the ceiling of the HTTP stack on this box. Reports requests/s, p50/p99, how many
202s were durable (rows in message_recipients), the message-delivered callbacks the sink
acknowledged during and after the load, and the server's RSS. Loopback only.
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

SINK = textwrap.dedent(
    """
    import sys, time
    from aiohttp import web
    count = 0
    first = last = 0.0
    async def hit(request):
        global count, first, last
        await request.read()
        count += 1
        last = time.time()
        if count == 1:
            first = last
        return web.Response(status=204)
    async def stats(request):
        return web.json_response({"count": count, "first": first, "last": last})
    app = web.Application()
    app.router.add_post("/cb", hit)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    """
)

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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


def wrk(port: int, path: str, body: str, seconds: int, connections: int) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    auth = __import__("base64").b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = [[{body}]]\n"
        f"wrk.headers['Content-Type'] = 'application/json'\n"
        f"wrk.headers['Authorization'] = 'Basic {auth}'\n"
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


def sink_stats(port: int) -> dict[str, float]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.loads(r.read())


def run_backend(name: str, url: str, seconds: int, connections: int) -> dict[str, object]:
    sink_port, port = free_port(), free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    server = None
    try:
        wait_port(sink_port)
        provision(url, f"http://127.0.0.1:{sink_port}/cb")
        app_id = Path(tempfile.gettempdir(), "openband-bench-app").read_text()
        env = {
            **os.environ,
            "OPENBAND_DEV_ACCOUNT": "false",
            "OPENBAND_LOG_LEVEL": "WARNING",
            "OPENBAND_DATABASE_URL": url,
        }
        server = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--host", "127.0.0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        wait_port(port)
        body = (
            f'{{"applicationId":"{app_id}","from":"{FROM_TN}","to":["{TO_TN}"],'
            f'"text":"Hello from the OpenBand benchmark"}}'
        )
        path = f"/api/v2/users/{ACCOUNT}/messages"
        wrk(port, path, body, 3, connections)  # warm-up: caches and connection pools
        before_total, _ = count_rows(url)
        s0 = sink_stats(sink_port)["count"]
        t0 = time.time()
        res = wrk(port, path, body, seconds, connections)
        t1 = time.time()
        s1 = sink_stats(sink_port)["count"]
        rss = rss_mb(server.pid)
        total, _ = count_rows(url)
        accepted = total - before_total
        # Drain: how long until every accepted message's callback is acknowledged.
        deadline = time.time() + 60
        while time.time() < deadline:
            _, done = count_rows(url)
            s2 = sink_stats(sink_port)
            if done >= total and s2["count"] >= total:
                break
            time.sleep(0.5)
        s2 = sink_stats(sink_port)
        drained_at = s2["last"]
        return {
            "backend": name,
            **res,
            "durable": accepted,
            "cb_during": (s1 - s0) / (t1 - t0),
            "cb_total": s2["count"],
            "e2e_rate": (s2["count"] - s0) / max(1e-6, drained_at - t0),
            "drain_s": max(0.0, drained_at - t1),
            "rss_mb": rss,
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(15)
        sink.terminate()
        sink.wait(5)


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
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    bare = run_bare(args.seconds, args.connections)
    rows = []
    for backend in args.backends.split(","):
        if backend == "sqlite":
            tmp = tempfile.mkdtemp(prefix="obbench-")
            rows.append(
                run_backend(
                    "SQLite", f"sqlite:///{tmp}/openband.db", args.seconds, args.connections
                )
            )
        elif backend == "postgres":
            made = pg_schema()
            if made is None:
                continue
            try:
                rows.append(run_backend("PostgreSQL", made[0], args.seconds, args.connections))
            finally:
                drop_schema(made[1])

    cpu = platform.processor() or platform.machine()
    head = (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"wrk -t1 -c{args.connections} -d{args.seconds}s, one `openband serve` process, "
        "load generator and callback sink on the same box"
    )
    lines = [
        "| Endpoint | req/s | p50 ms | p99 ms | 202s durable | vs bare | callbacks/s during load "
        "| end-to-end msg/s | drain after load | server RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| bare Starlette (parse JSON, 202) | {bare['rps']:.0f} | {bare['p50']:.1f} "
        f"| {bare['p99']:.1f} | – | 1.00 | – | – | – | – |",
    ]
    for r in rows:
        lines.append(
            f"| POST messages, {r['backend']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
            f"| {r['durable']}/{r['ok']} | {r['rps'] / bare['rps']:.2f} "  # type: ignore[operator]
            f"| {r['cb_during']:.0f} | {r['e2e_rate']:.0f} | {r['drain_s']:.1f} s "
            f"| {r['rss_mb']:.0f} MB |"
        )
    table = "\n".join(lines)
    print(head)
    print(table)
    if args.write_docs:
        doc = ROOT / "docs" / "benchmarks.md"
        section = (
            "## Messaging\n\n"
            "`.venv/bin/python bench/messaging.py --write-docs` — POST /api/v2/users/{acct}/"
            "messages (one SMS per request to a simulator handset that delivers) against "
            "`openband serve`; a 202 is sent only after the group commit that holds the message. "
            '"202s durable" compares recipient rows in the database with 2xx answers; '
            '"end-to-end" counts message-delivered callbacks acknowledged by a local sink '
            "from the start of the load until the last one.\n\n"
            f"{head}.\n\n{table}\n"
        )
        text = doc.read_text() if doc.exists() else "# Benchmarks\n"
        if "## Messaging" in text:
            text = re.sub(r"## Messaging\n.*?(?=\n## |\Z)", section, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        doc.write_text(text)
        print(f"wrote {doc}")


if __name__ == "__main__":
    main()
