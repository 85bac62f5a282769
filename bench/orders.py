"""Benchmark: ordering 5,000 numbers, from POST /orders to COMPLETE (target: under 10 s).

Runs a real `openband serve` per backend (SQLite, and PostgreSQL when one answers), provisions a
site and a location over HTTP, then times several orders of each size. Not a test: it prints a
table and, with --write, appends the figures to docs/benchmarks.md.

    .venv/bin/python bench/orders.py [--sizes 1,100,5000] [--repeat 3] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.backends import create_pg_schema, drop_pg_schema, postgres_base_url  # noqa: E402
from tests.support.dashboard import PEER_XML, SITE_XML  # noqa: E402
from tests.support.live import LiveServer  # noqa: E402


def _order(client: httpx.Client, acct: str, site: str, peer: str, quantity: int) -> float:
    body = (
        f"<Order><StateSearchAndOrderType><State>NC</State><Quantity>{quantity}</Quantity>"
        f"</StateSearchAndOrderType><SiteId>{site}</SiteId><PeerId>{peer}</PeerId></Order>"
    )
    start = time.perf_counter()
    r = client.post(f"/api/accounts/{acct}/orders", content=body)
    r.raise_for_status()
    order_id = etree.fromstring(r.content).findtext("Order/id")
    while True:
        doc = etree.fromstring(client.get(f"/api/accounts/{acct}/orders/{order_id}").content)
        status = doc.findtext("OrderStatus")
        if status not in ("RECEIVED", "PROCESSING"):
            break
        time.sleep(0.02)
    elapsed = time.perf_counter() - start
    if status != "COMPLETE" or doc.findtext("CompletedQuantity") != str(quantity):
        raise RuntimeError(f"order {order_id} ended {status}: {etree.tostring(doc)[:300]!r}")
    return elapsed


def run_backend(name: str, database_url: str, sizes: list[int], repeat: int) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        server = LiveServer(Path(tmp), database_url=database_url)
        server.start()
        try:
            acct = server.account_id
            with server.client() as c:
                r = c.post(f"/api/accounts/{acct}/sites", content=SITE_XML)
                site = r.headers["location"].rsplit("/", 1)[-1]
                r = c.post(
                    f"/api/accounts/{acct}/sites/{site}/sippeers",
                    content=PEER_XML.format(default="true"),
                )
                peer = r.headers["location"].rsplit("/", 1)[-1]
                rows = []
                for size in sizes:
                    times = [_order(c, acct, site, peer, size) for _ in range(repeat)]
                    rows.append((name, size, min(times), statistics.median(times), max(times)))
                    print(f"{name:10} {size:6} numbers: median {statistics.median(times):.3f} s")
            return rows
        finally:
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,100,1000,5000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--write", action="store_true", help="append the results to docs/benchmarks.md")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += run_backend("sqlite", f"sqlite:///{tmp}/bench.db", sizes, args.repeat)
    pg = postgres_base_url()
    if pg:
        url, schema = create_pg_schema(pg)
        try:
            rows += run_backend("postgresql", url, sizes, args.repeat)
        finally:
            drop_pg_schema(pg, schema)
    lines = [
        "| backend | numbers per order | min (s) | median (s) | max (s) |",
        "|---|---:|---:|---:|---:|",
        *[f"| {b} | {n} | {lo:.3f} | {med:.3f} | {hi:.3f} |" for b, n, lo, med, hi in rows],
    ]
    print("\n".join(lines))
    if args.write:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1]
        section = [
            "",
            "## Number orders",
            "",
            "Time from `POST /orders` (StateSearchAndOrderType NC, with SiteId and PeerId) to the",
            "order read back COMPLETE, through a real `openband serve` on loopback, polling every",
            f"20 ms; {args.repeat} orders per size. Target: 5,000 numbers in under 10 s.",
            "",
            f"Machine: {os.cpu_count()} cores, `{' '.join(mem.split())}`, Python "
            f"{platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
            f"Command: `.venv/bin/python bench/orders.py --sizes {args.sizes} --repeat "
            f"{args.repeat} --write`",
            "",
            *lines,
            "",
        ]
        with (ROOT / "docs" / "benchmarks.md").open("a") as fh:
            fh.write("\n".join(section))


if __name__ == "__main__":
    main()
