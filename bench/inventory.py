"""Benchmark (not a test): GET availableNumbers over the real HTTP stack.

    .venv/bin/python bench/inventory.py [--imported-rows 3000000] [--rounds 30] [--write-docs]

Runs `openband serve` as a subprocess on a free 127.0.0.1 port with a temporary SQLite database
and measures, from one keep-alive HTTP client, a mix of searches against
  1. the generated NANP inventory (inventory_lines_per_exchange=1000: >36M numbers), and
  2. an imported inventory (`openband inventory import` of a CSV derived from the generated one),
plus GET /health in the same run as the bare-endpoint baseline, each run once the server's
start-up work is over (see `settle`). Loopback only.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("openband")
ACCOUNT, USER, PASSWORD = "9900001", "bench", "bench-password"
LINES = 1000
COUNTS: dict[str, int] = {}
SETTLED: list[float] = []  # seconds waited for start-up work to end, per run

# (label, params): a realistic mix of what SDK users send.
GENERATED_MIX: list[tuple[str, dict[str, str]]] = [
    ("areaCode q=1", {"areaCode": "919", "quantity": "1"}),
    ("areaCode q=100", {"areaCode": "415", "quantity": "100"}),
    ("areaCode q=5000", {"areaCode": "512", "quantity": "5000"}),
    ("npaNxx q=100", {"npaNxx": "919212", "quantity": "100"}),
    ("npaNxxx q=100", {"npaNxxx": "9192123", "quantity": "100"}),
    ("state q=100", {"state": "TX", "quantity": "100"}),
    ("state q=5000", {"state": "CA", "quantity": "5000"}),
    ("city+state q=100", {"city": "RALEIGH", "state": "NC", "quantity": "100"}),
    ("zip q=100", {"zip": "27601", "quantity": "100"}),
    ("zip fallback q=100", {"zip": "27503", "quantity": "100"}),
    ("rateCenter q=100", {"rateCenter": "DURHAM", "state": "NC", "quantity": "100"}),
    ("lata q=100", {"lata": "496", "quantity": "100"}),
    ("tollFree 8** q=100", {"tollFreeWildCardPattern": "8**", "quantity": "100"}),
    ("tollFree 87* q=5000", {"tollFreeWildCardPattern": "87*", "quantity": "5000"}),
    ("tollFreeVanity", {"tollFreeVanity": "NEWCARS"}),
    ("localVanity+areaCode q=10", {"localVanity": "CARS", "areaCode": "919", "quantity": "10"}),
    ("localVanity+state q=100", {"localVanity": "2277", "state": "NC", "quantity": "100"}),
    ("areaCode+detail q=100", {"areaCode": "919", "quantity": "100", "enableTNDetail": "true"}),
]
IMPORTED_MIX: list[tuple[str, dict[str, str]]] = [
    (label, params)
    for label, params in GENERATED_MIX
    if not label.startswith(("localVanity+state", "zip fallback"))
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, check=True)


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**env, "OPENBAND_PORT": str(self.port), "OPENBAND_HOST": "127.0.0.1"}
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--log-format", "json"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        return int(next(x.split()[1] for x in fh if x.startswith("VmRSS")))


def cpu_seconds(pid: int) -> tuple[float, bool]:
    """CPU time of `pid` and of its live children (the exchange index is built in one), and
    whether it has any."""
    tick = os.sysconf("SC_CLK_TCK")
    total, kids = 0.0, False
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        kids = kids or p != pid
    return total, kids


def settle(pid: int, timeout: float = 60.0) -> float:
    """Wait until the server's start-up work (the exchange index, built at start whichever the
    inventory) is over: no child process and under 25 ms of CPU in 0.5 s. Returns the wait."""
    started = time.monotonic()
    last, had_kids = cpu_seconds(pid)
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now, kids = cpu_seconds(pid)
        # A child's CPU leaves the total when it exits: only a window without any counts.
        if not kids and not had_kids and now - last < 0.025:
            break
        last, had_kids = now, kids
    return time.monotonic() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(
    client: httpx.Client, mix: list[tuple[str, dict[str, str]]], rounds: int, pid: int
) -> tuple[dict[str, list[float]], list[float], list[float]]:
    path = f"/api/accounts/{ACCOUNT}/availableNumbers"
    for _, params in mix:  # warm-up: the exchange index, caches, connections
        r = client.get(path, params=params)
        assert r.status_code == 200, (params, r.text[:300])
    SETTLED.append(settle(pid))  # steady state: start-up work is not the endpoint's latency
    per: dict[str, list[float]] = {label: [] for label, _ in mix}
    COUNTS.clear()
    searches: list[float] = []
    bare: list[float] = []
    for _ in range(rounds):
        for label, params in mix:
            t = time.perf_counter()
            r = client.get(path, params=params)
            dt = (time.perf_counter() - t) * 1000
            assert r.status_code == 200 and b"<ResultCount>" in r.content
            COUNTS[label] = int(r.text.split("<ResultCount>")[1].split("<")[0])
            per[label].append(dt)
            searches.append(dt)
            t = time.perf_counter()
            client.get("/health")
            bare.append((time.perf_counter() - t) * 1000)
    return per, searches, bare


def own_some(db: Path, client: httpx.Client) -> int:
    """Give an account ~10k numbers where the mix searches, so ownership filtering does work."""
    path = f"/api/accounts/{ACCOUNT}/availableNumbers"
    tns: list[str] = []
    for params in ({"areaCode": "919"}, {"state": "CA"}, {"tollFreeWildCardPattern": "87*"}):
        r = client.get(path, params={**params, "quantity": "5000"})
        found = r.text.split("<TelephoneNumber>")[1:]
        tns += ["+1" + t.split("<", 1)[0] for t in found[::3]]
    now = "2026-01-01 00:00:00.000000+00:00"
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT OR IGNORE INTO phone_numbers (tn, account_id, status, npa, nxx, created_at,"
            " updated_at) VALUES (?, ?, 'Inservice', ?, ?, ?, ?)",
            [(tn, ACCOUNT, tn[2:5], tn[5:8], now, now) for tn in tns],
        )
    return len(tns)


def write_csv(path: Path, rows: int) -> int:
    """A CSV derived from the generated inventory (real geography): the first lines of EVERY
    exchange (local and toll free), so each query of the mix finds numbers."""
    from openband.config import Settings
    from openband.core.inventory import TOLL_FREE_NPAS, TOLL_FREE_NXX, Inventory, exchange_index

    idx = exchange_index()
    offer = Inventory(Settings(inventory_lines_per_exchange=LINES)).offer
    blocks = [(e.npa, e.nxx, [e.city, e.state, e.rate_center, e.lata, e.zip or ""])
              for e in idx.exchanges]  # fmt: skip
    blocks += [(npa, nxx, ["", "", "", "", ""]) for npa in TOLL_FREE_NPAS for nxx in TOLL_FREE_NXX]
    per = max(1, -(-rows // len(blocks)))
    written = 0
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["number", "city", "state", "rate_center", "lata", "zip"])
        for npa, nxx, geo in blocks:
            for line in offer.lines(npa + nxx)[:per]:
                w.writerow([f"{npa}{nxx}{line:04d}", *geo])
                written += 1
                if written >= rows:
                    return written
    return written


def table(title: str, per: dict[str, list[float]], counts: dict[str, int]) -> list[str]:
    out = [f"| {title} | results | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for label, vals in per.items():
        out.append(
            f"| {label} | {counts[label]} | {pct(vals, 50):.2f} | {pct(vals, 95):.2f} | "
            f"{pct(vals, 99):.2f} |"
        )
    return out


def summary(label: str, vals: list[float]) -> str:
    return (
        f"| {label} | {len(vals)} | {pct(vals, 50):.2f} | {pct(vals, 95):.2f} | "
        f"{pct(vals, 99):.2f} | {max(vals):.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--imported-rows", type=int, default=3_000_000)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    started = time.monotonic()
    lines: list[str] = []

    with tempfile.TemporaryDirectory(prefix="openband-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        env = {
            **os.environ,
            "OPENBAND_DATABASE_URL": f"sqlite:///{db}",
            "OPENBAND_DEV_ACCOUNT": "false",
            "OPENBAND_INVENTORY_LINES_PER_EXCHANGE": str(LINES),
            "OPENBAND_LOG_LEVEL": "WARNING",
        }
        cli(env, "accounts", "create", "--account-id", ACCOUNT, "--username", USER,
            "--password", PASSWORD)  # fmt: skip
        sys.path.insert(0, str(ROOT / "src"))
        from openband.config import Settings
        from openband.core.inventory import Inventory, exchange_index

        _, total = Inventory(Settings(inventory_lines_per_exchange=LINES)).generated_size()
        index_mem = f"{exchange_index().memory_bytes / 1e6:.0f} MB"

        # 1. generated inventory
        server = Server(env)
        try:
            with httpx.Client(base_url=server.base, auth=(USER, PASSWORD), timeout=30) as client:
                t = time.perf_counter()
                client.get(f"/api/accounts/{ACCOUNT}/availableNumbers", params={"areaCode": "919"})
                first = time.perf_counter() - t
                owned = own_some(db, client)
                per, searches, bare = measure(client, GENERATED_MIX, args.rounds, server.proc.pid)
                gen_counts = dict(COUNTS)
            gen_rss = rss_kb(server.proc.pid)
        finally:
            server.stop()

        # 2. imported inventory
        csv_path = Path(tmp) / "inventory.csv"
        t = time.perf_counter()
        rows = write_csv(csv_path, args.imported_rows)
        csv_seconds = time.perf_counter() - t
        t = time.perf_counter()
        out = cli(env, "inventory", "import", str(csv_path)).stdout.strip()
        import_seconds = time.perf_counter() - t
        csv_path.unlink()
        server = Server(env)
        try:
            with httpx.Client(base_url=server.base, auth=(USER, PASSWORD), timeout=30) as client:
                iper, isearches, ibare = measure(
                    client, IMPORTED_MIX, max(5, args.rounds // 2), server.proc.pid
                )
        finally:
            server.stop()

    elapsed = time.monotonic() - started
    cmd = "cd /work/main && .venv/bin/python bench/inventory.py " + " ".join(sys.argv[1:])
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    lines += [
        "## Inventory search",
        "",
        f"Command: `{cmd}` (run {time.strftime('%Y-%m-%d')}, {elapsed:.0f} s total).",
        "",
        f"Machine: {os.cpu_count()} CPUs (`nproc` {os.cpu_count()}), Python "
        f"{platform.python_version()}, {platform.platform()}. `free -h`:",
        "",
        "```",
        mem,
        "```",
        "",
        f"Load average at the end (2 cores shared with other engineers' test runs): "
        f"{os.getloadavg()[0]:.1f}. Latencies include that contention; compare with the bare "
        "endpoint measured alongside.",
        "",
        "Stack: `openband serve` (uvicorn) as a subprocess on a free 127.0.0.1 port, temporary "
        "SQLite database; one sequential keep-alive httpx client in another process. Latency is "
        "client-side wall time per request. Bare endpoint: `GET /health`, interleaved with the "
        "searches in the same run. Each run is measured in steady state: after one warm-up pass "
        "of its mix, the bench waits until the server's start-up work (the exchange index, built "
        "in a child process at start whichever the inventory) is over: "
        f"{SETTLED[0]:.1f} s (generated), {SETTLED[1]:.1f} s (imported) after the warm-up.",
        "",
        f"Generated inventory: {total:,} available numbers (inventory_lines_per_exchange="
        f"{LINES}, real NANP exchanges + toll free), {owned:,} of them owned by an account "
        f"during the run. Exchange index: {index_mem} (RSS growth while loading it; built once "
        f"per process, in a child process, first search {first:.1f} s). Server RSS after the "
        "generated run: "
        f"{gen_rss / 1024:.0f} MB.",
        "",
        "| run | requests | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        summary("generated: availableNumbers mix", searches),
        summary("generated run: GET /health (bare)", bare),
        summary("imported: availableNumbers mix", isearches),
        summary("imported run: GET /health (bare)", ibare),
        "",
        f"Ratio p50 search / bare: generated {pct(searches, 50) / pct(bare, 50):.1f}x, "
        f"imported {pct(isearches, 50) / pct(ibare, 50):.1f}x. "
        f"Target p99 < 20 ms: generated {'met' if pct(searches, 99) < 20 else 'NOT met'}, "
        f"imported {'met' if pct(isearches, 99) < 20 else 'NOT met'}.",
        "",
        f"Imported inventory: {rows:,} rows (CSV written in {csv_seconds:.1f} s); "
        f"`openband inventory import`: {import_seconds:.1f} s wall including process start, "
        f"{rows / import_seconds:,.0f} rows/s. CLI said: `{out}`.",
        "",
        *table("generated, per query", per, gen_counts),
        "",
        *table("imported, per query", iper, dict(COUNTS)),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        doc = ROOT / "docs" / "benchmarks.md"
        old = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
        if "## Inventory search" in old:
            head, _, rest = old.partition("## Inventory search")
            nxt = rest.find("\n## ")
            old = head + (rest[nxt + 1 :] if nxt >= 0 else "")
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
