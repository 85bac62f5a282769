"""The exchange index of the generated inventory: every NANP exchange and lookups by criterion.

Built once per process from libphonenumber's geocoding data and the zip codes (geography), in a
child process whose result is loaded here a piece at a time (see _load_index).
"""

from __future__ import annotations

import dataclasses
import gc
import io
import logging
import pickle
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple

from openband.core.inventory.geography import (
    NPA,
    REGION_SLOT,
    TOLL_FREE_NPAS,
    ZipTable,
    city_key,
    nanp_geodata,
    nxx_ok,
    rate_center_for,
    synthetic_lata,
    zip_tables,
)

log = logging.getLogger(__name__)


class Exchange(NamedTuple):
    npa: str
    nxx: str
    city: str  # upper-cased, as Bandwidth prints cities
    state: str
    rate_center: str
    lata: str | None
    zip: str | None
    key: str  # city_key(city)
    lat: float | None
    lon: float | None


@dataclass
class ExchangeIndex:
    exchanges: list[Exchange]
    by_npanxx: dict[str, int]
    npa_range: dict[str, tuple[int, int]]
    by_state: dict[str, list[int]]
    by_state_rc: dict[tuple[str, str], list[int]]
    by_state_city: dict[tuple[str, str], list[int]]
    by_lata: dict[str, list[int]]
    zips: ZipTable
    build_seconds: float = 0.0
    memory_bytes: int = 0

    def describe(self, npa: str, nxx: str) -> Exchange | None:
        i = self.by_npanxx.get(npa + nxx)
        return self.exchanges[i] if i is not None else None


_CITY_STATE = re.compile(r"^(.+), ([A-Z]{2})$")


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


def build_index(in_process: bool = False) -> ExchangeIndex:
    started, rss0 = time.perf_counter(), _rss()
    zips, city_zip = zip_tables(in_process)
    strings: dict[str, str] = {}

    def intern(s: str) -> str:
        return strings.setdefault(s, s)

    rows: list[Exchange] = []
    for prefix, desc in nanp_geodata():
        m = _CITY_STATE.match(desc)
        npa, nxx = prefix[1:4], prefix[4:7]
        if not m or m.group(2) not in REGION_SLOT or npa in TOLL_FREE_NPAS:
            continue
        if not NPA.match(npa) or npa[1:] == "11" or not nxx_ok(nxx):
            continue
        city, state = m.group(1).strip(), m.group(2)
        rc = rate_center_for(city)
        if not rc:
            continue
        key = city_key(city)
        zll = city_zip.get((state, key))
        rows.append(
            Exchange(
                intern(npa),
                intern(nxx),
                intern(city.upper()),
                intern(state),
                intern(rc),
                intern(synthetic_lata(state, rc) or ""),
                zll[0] if zll else None,
                intern(key),
                zll[1] if zll else None,
                zll[2] if zll else None,
            )
        )
    rows.sort(key=lambda e: (e.npa, e.nxx))
    idx = ExchangeIndex(rows, {}, {}, {}, {}, {}, {}, zips)
    for i, e in enumerate(rows):
        idx.by_npanxx[e.npa + e.nxx] = i
        lo, _ = idx.npa_range.get(e.npa, (i, i))
        idx.npa_range[e.npa] = (lo, i + 1)
        idx.by_state.setdefault(e.state, []).append(i)
        idx.by_state_rc.setdefault((e.state, e.rate_center), []).append(i)
        idx.by_state_city.setdefault((e.state, e.key), []).append(i)
        if e.lata:
            idx.by_lata.setdefault(e.lata, []).append(i)
    idx.build_seconds = time.perf_counter() - started
    idx.memory_bytes = max(0, _rss() - rss0)  # resident growth while building (Linux)
    log.info(
        "NANP exchange index: %d exchanges, %d zips, %.1f MB, built in %.2fs",
        len(rows), len(zips), idx.memory_bytes / 1e6, idx.build_seconds,
    )  # fmt: skip
    return idx


_INDEX: ExchangeIndex | None = None
_INDEX_LOCK = threading.Lock()


def exchange_index() -> ExchangeIndex:
    """The process-wide exchange index, built on first use (~2 s) and kept."""
    global _INDEX
    if _INDEX is None:
        with _INDEX_LOCK:
            if _INDEX is None:
                _INDEX = _load_index()
    return _INDEX


def built_index() -> ExchangeIndex | None:
    """The process-wide exchange index if it is built, without waiting for it."""
    return _INDEX


def _load_index() -> ExchangeIndex:
    """Build the index in a child process and load it here, a piece at a time.

    Building is ~0.8 s of CPU under the GIL (regexes over ~31k prefixes), and one pickle.loads
    of the result ~0.15 s in a single C call (plus the full collections its ~200k new objects
    trigger). A server loads the index on a thread at start while it serves: every request then
    waited for the GIL, up to ~1 s for the first searches of an imported inventory. Pieces of a
    few ms, with the cyclic GC paused meanwhile, let the event loop run between them.
    """
    started, rss0 = time.perf_counter(), _rss()
    code = f"from {__name__} import _print_index; _print_index()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=180, check=True
        )
        pieces = pickle.Unpickler(io.BytesIO(done.stdout))  # our own child's output
        chunks, names = pieces.load()
        exchanges: list[Exchange] = []
        fields: dict[str, object] = {}
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            for _ in range(chunks):
                exchanges += pieces.load()
                time.sleep(0)  # hand the GIL to the event loop's thread
            for name in names:
                fields[name] = pieces.load()
                time.sleep(0)
        finally:
            if gc_was_on:
                gc.enable()
        idx = ExchangeIndex(exchanges, **fields)  # type: ignore[arg-type]
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, EOFError, TypeError):
        log.warning("exchange index child failed; building in process", exc_info=True)
        return build_index()
    idx.build_seconds = time.perf_counter() - started
    idx.memory_bytes = max(0, _rss() - rss0)  # resident growth here (Linux)
    return idx


def _print_index() -> None:
    """The child of _load_index: (chunk count, field names), the exchanges in chunks, then the
    other fields one by one. One Pickler: strings shared across pieces stay shared."""
    logging.disable(logging.INFO)
    idx = build_index(in_process=True)
    out = pickle.Pickler(sys.stdout.buffer, pickle.HIGHEST_PROTOCOL)
    step = 1000
    names = [f.name for f in dataclasses.fields(idx) if f.name != "exchanges"]
    out.dump((-(-len(idx.exchanges) // step), names))
    for i in range(0, len(idx.exchanges), step):
        out.dump(idx.exchanges[i : i + step])
    for name in names:
        out.dump(getattr(idx, name))
