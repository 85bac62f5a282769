"""Benchmark (not a test): Voice v2 calls on one node, real-time clock, against a local BXML
server; call set-ups per second, concurrent calls, latency from the answer webhook to its BXML
being acted on, server CPU per call and RSS, on SQLite and PostgreSQL.

    .venv/bin/python bench/voice.py [--backends sqlite,postgres] [--rate 100] [--seconds 20]
                                    [--holds 2,8] [--json out.json]

Each run starts `openband serve` (one process) on a fresh database with one account (no limits),
a Voice-V2 application and 20 numbers, and scripts 50 handsets: each answers after 1 s and
presses 1 half a second after it hears "press 1". The bench (one asyncio process) serves the
BXML and creates calls at --rate per second for --seconds, spread over the numbers and handsets:

    answer   -> <Gather maxDigits="1" gatherUrl="/gather"><SpeakSentence>Thank you for calling.
                Press 1 for sales.</SpeakSentence></Gather>
    gather   -> <Pause duration="HOLD"/><Hangup/>      (HOLD from --holds: how long calls stay up)
    disconnect: counted

Figures, per run:
- set-ups/s: calls created (201) per second of the offered window, and the create's p50/p99;
- concurrent calls: the most calls answered and not yet ended at once (the bench's count from
  the answer and disconnect webhooks);
- answer -> BXML acted on, p50/p99: from the call's timeline (GET /sim/v1/calls/{id}) for a
  sample of calls: the answer webhook's start to the sentence starting to play (fetch, parse,
  speech from the cache, the carrier's play);
- answer -> gather, p50/p99 (bench side): the answer webhook to the gather webhook, i.e. the
  above plus the handset's 0.5 s and its key reaching the Gather;
- server CPU per call: the server's CPU seconds from the first create until every call ended,
  over the calls completed; a second --holds value shows how it grows with concurrency;
- peak RSS of the server process, sampled every 0.5 s.
Loopback only; the machine's two cores are shared by the server, the bench and the database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.messaging import (  # noqa: E402
    ACCOUNT,
    PASSWORD,
    USER,
    RssSampler,
    _webhooks,
    cpu_seconds,
    drop_schema,
    family,
    free_port,
    pg_schema,
    start_server,
    wait_idle,
    wait_port,
)

NUMBERS = [f"+1919555{1000 + i:04d}" for i in range(20)]
HANDSETS = [f"+1984555{2000 + i:04d}" for i in range(50)]
PROMPT = "Thank you for calling. Press 1 for sales."
SAMPLE = 100  # timelines read per run


def provision(url: str, bxml_base: str) -> str:
    """Account, Voice-V2 application, numbers and handset scripts, straight into the DB."""
    from openband.core import accounts
    from openband.core import provisioning as prov
    from openband.network.sim.behaviours import Behaviour
    from openband.store import numbers
    from openband.store import simulator as sim_repo
    from openband.store.db import Database, migrate

    migrate(url)
    script = {
        "answer": "answer",
        "answerAfterSeconds": 1,
        "actions": [{"on": "heard", "phrase": "press 1", "afterSeconds": 0.5, "press": "1"}],
    }

    async def go() -> str:
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
                        "Voice-V2",
                        "bench",
                        {"call_initiated_callback_url": f"{bxml_base}/initiate"},
                    ),
                    sealer=_webhooks().sealer(),
                )
                await numbers.insert_new(
                    conn,
                    [
                        {"tn": tn, "account_id": ACCOUNT, "npa": "919", "nxx": "555"}
                        for tn in NUMBERS
                    ],
                    db.dialect,
                )
                for tn in HANDSETS:
                    await sim_repo.put_script(
                        conn, ACCOUNT, tn, Behaviour().to_json() | {"call": script}
                    )
                return app.id
        finally:
            await db.dispose()

    return asyncio.run(go())


class Bxml:
    """The application's server: answers the webhooks and notes when each arrived."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.answered: dict[str, float] = {}
        self.gathered: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.causes: dict[str, int] = {}
        self.digits_ok = 0
        self.peak = 0

    def _live(self) -> int:
        return len(self.answered) - len(self.ended)

    async def answer(self, request: web.Request) -> web.Response:
        doc = await request.json()
        self.answered[doc["callId"]] = time.monotonic()
        self.peak = max(self.peak, self._live())
        return web.Response(
            text='<Response><Gather maxDigits="1" gatherUrl="/gather" firstDigitTimeout="10">'
            f"<SpeakSentence>{PROMPT}</SpeakSentence></Gather></Response>",
            content_type="application/xml",
        )

    async def gather(self, request: web.Request) -> web.Response:
        doc = await request.json()
        self.gathered[doc["callId"]] = time.monotonic()
        self.digits_ok += doc.get("digits") == "1"
        return web.Response(
            text=f'<Response><Pause duration="{self.hold:g}"/><Hangup/></Response>',
            content_type="application/xml",
        )

    async def disconnect(self, request: web.Request) -> web.Response:
        doc = await request.json()
        self.ended[doc["callId"]] = time.monotonic()
        self.causes[doc.get("cause", "?")] = self.causes.get(doc.get("cause", "?"), 0) + 1
        return web.Response(status=204)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/answer", self.answer)
        app.router.add_post("/gather", self.gather)
        app.router.add_post("/disconnect", self.disconnect)
        return app


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


async def drive(
    base: str, app_id: str, bxml_base: str, server: Bxml, rate: float, seconds: float, pid: int
) -> dict[str, float]:
    auth = (USER, PASSWORD)
    url = f"{base}/api/v2/accounts/{ACCOUNT}/calls"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    created: list[str] = []
    create_ms: list[float] = []
    refused = 0
    rng = random.Random(7)
    async with httpx.AsyncClient(auth=auth, timeout=30, limits=limits) as client:

        async def one() -> None:
            nonlocal refused
            body = {
                "from": rng.choice(NUMBERS),
                "to": rng.choice(HANDSETS),
                "applicationId": app_id,
                "answerUrl": f"{bxml_base}/answer",
                "disconnectUrl": f"{bxml_base}/disconnect",
            }
            t = time.monotonic()
            r = await client.post(url, json=body)
            create_ms.append((time.monotonic() - t) * 1000)
            if r.status_code == 201:
                created.append(r.json()["callId"])
            else:
                refused += 1

        cpu0 = cpu_seconds(family(pid))
        t0 = time.monotonic()
        tasks = []
        n = int(rate * seconds)
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        offered_s = time.monotonic() - t0
        deadline = time.monotonic() + server.hold + 60
        while len(server.ended) < len(created) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        cpu = cpu_seconds(family(pid)) - cpu0
        # answer webhook -> sentence playing, from the timelines of a sample
        acted: list[float] = []
        for call_id in created[:: max(1, len(created) // SAMPLE)][:SAMPLE]:
            r = await client.get(f"{base}/sim/v1/calls/{call_id}")
            if r.status_code != 200:
                continue
            t = r.json()["timeline"]
            hook = next(
                (
                    e
                    for e in t
                    if e["kind"] == "webhook" and e["detail"].get("eventType") == "answer"
                ),
                None,
            )
            heard = next((e for e in t if e["kind"] == "heard"), None)
            if hook and heard:
                acted.append(_ms(hook["at"], heard["at"]))
    press_to_gather = [
        (server.gathered[c] - server.answered[c]) * 1000
        for c in server.gathered
        if c in server.answered
    ]
    return {
        "offered": n,
        "created": len(created),
        "refused": refused,
        "setups_per_s": len(created) / offered_s,
        "create_p50": pct(create_ms, 50),
        "create_p99": pct(create_ms, 99),
        "peak_concurrent": server.peak,
        "completed": len(server.ended),
        "hangup": server.causes.get("hangup", 0),
        "digits_ok": server.digits_ok,
        "acted_p50": pct(acted, 50),
        "acted_p99": pct(acted, 99),
        "acted_n": len(acted),
        "answer_to_gather_p50": pct(press_to_gather, 50),
        "answer_to_gather_p99": pct(press_to_gather, 99),
        "cpu_ms_per_call": cpu / max(1, len(server.ended)) * 1000,
    }


def _ms(a: str, b: str) -> float:
    from openband.clock import parse_iso

    return (parse_iso(b) - parse_iso(a)).total_seconds() * 1000


def run(name: str, url: str, rate: float, seconds: float, hold: float) -> dict[str, object]:
    bxml_port = free_port()
    bxml_base = f"http://127.0.0.1:{bxml_port}"
    app_id = provision(url, bxml_base)
    port = free_port()
    proc = start_server(url, port, 1)
    try:
        wait_port(port)
        wait_idle(proc.pid)
        sampler = RssSampler(proc.pid)
        server = Bxml(hold)

        async def main() -> dict[str, float]:
            runner = web.AppRunner(server.app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", bxml_port).start()
            try:
                return await drive(
                    f"http://127.0.0.1:{port}", app_id, bxml_base, server, rate, seconds, proc.pid
                )
            finally:
                await runner.cleanup()

        figures = asyncio.run(main())
        figures["rss_mb"] = sampler.stop()
        return {"backend": name, "hold": hold, "rate": rate, **figures}
    finally:
        proc.terminate()
        proc.wait(30)


def table(rows: list[dict[str, object]]) -> list[str]:
    lines = [
        "| Run | set-ups/s (created/offered) | create p50/p99 ms | peak concurrent | completed "
        "(hangup, digit 1) | answer -> BXML acted on p50/p99 ms | answer -> gather p50/p99 ms "
        "| server CPU per call | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']}, {r['rate']:g}/s offered, calls held {r['hold']:g} s "
            f"| {r['setups_per_s']:.1f} ({r['created']}/{r['offered']}) "
            f"| {r['create_p50']:.1f} / {r['create_p99']:.1f} "
            f"| {r['peak_concurrent']} "
            f"| {r['completed']} ({r['hangup']}, {r['digits_ok']}) "
            f"| {r['acted_p50']:.1f} / {r['acted_p99']:.1f} (n={r['acted_n']}) "
            f"| {r['answer_to_gather_p50']:.0f} / {r['answer_to_gather_p99']:.0f} "
            f"| {r['cpu_ms_per_call']:.2f} ms | {r['rss_mb']:.0f} MB |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--rate", type=float, default=100.0, help="calls created per second")
    ap.add_argument("--seconds", type=float, default=20.0, help="how long calls are created")
    ap.add_argument("--holds", default="2,8", help="seconds each call stays up after the digit")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    rows: list[dict[str, object]] = []
    for hold in (float(h) for h in args.holds.split(",") if h):
        for backend in (b for b in args.backends.split(",") if b):
            if backend == "sqlite":
                tmp = tempfile.mkdtemp(prefix="obvoice-")
                rows.append(
                    run("SQLite", f"sqlite:///{tmp}/openband.db", args.rate, args.seconds, hold)
                )
            elif backend == "postgres":
                made = pg_schema()
                if made is None:
                    continue
                try:
                    rows.append(run("PostgreSQL", made[0], args.rate, args.seconds, hold))
                finally:
                    drop_schema(made[1])
    head = (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}; `openband serve` (one process), the bench and its BXML "
        "server in one asyncio process on the same box; run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(head)
    print("\n".join(table(rows)))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
