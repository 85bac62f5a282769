"""The number inventory: what can be searched (GET availableNumbers) and ordered.

Two sources, never mixed:

* Generated (default): a deterministic NANP inventory computed, not stored. Every real area code +
  exchange (NPA-NXX) from libphonenumber's US/Canada geocoding data becomes an exchange with its
  real city and state. Derived attributes are stable functions of that data:
    - rate center: the city upper-cased, letters and spaces only, cut to 10 characters (Bandwidth's
      rate-center abbreviations are at most 10 characters, e.g. RALEIGH);
    - LATA: SYNTHETIC. A stable 3-digit code per (state, rate center) inside a fixed per-state
      block of 12 codes (100 + 12 * slot .. +11). Real LATAs are not in any open data set.
    - zip: a representative zip code of the city (the `zipcodes` package); a zip search returns the
      exchanges of that zip's city, or, when the city has none, the state's exchanges nearest first.
  Which lines of an exchange are on offer: `inventory_lines_per_exchange` of 0000-9999, taken from
  one keyed permutation of the 10,000 lines (key: `inventory_seed`) at a per-exchange keyed offset,
  so membership is O(1) and exchanges differ. Never offered: N11 exchanges, NXX 555 (555-01xx are
  the simulator's fictional numbers), NXX values absent from the data. Toll free: 800 833 844 855
  866 877 888, every valid NXX, no geography.
* Imported: when the `inventory_numbers` table has any row it IS the inventory (see
  `openband inventory import`). Which source applies is read from the database in each
  search's own transaction, never cached: the CLI or another server process may import or
  clear at any moment, and the next search must see it (see Inventory._search).

A number is available when it is in the inventory and has no phone_numbers row. Searches ask the
database about the candidate exchanges/numbers only, and are deterministic: same query and same
ownership give the same answer.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import hashlib
import logging
import math
import re
import threading
import time
import unicodedata
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from openband.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncConnection

    from openband.config import Settings
    from openband.store.db import Database

log = logging.getLogger(__name__)

TOLL_FREE_NPAS: tuple[str, ...] = ("800", "833", "844", "855", "866", "877", "888")
MAX_QUANTITY = 5000
LINES = 10_000

US_STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
CA_PROVINCES: tuple[str, ...] = (
    "AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT",
)  # fmt: skip
# Fixed order: a region's LATA block depends on its position here, never on the data.
REGIONS: tuple[str, ...] = (*US_STATES, *CA_PROVINCES)
_REGION_SLOT = {r: i for i, r in enumerate(REGIONS)}
LATA_BLOCK = 12

# Bandwidth's SearchErrorType descriptions (Dashboard API errors, "Searching the Telephone Number
# Inventory").
SEARCH_ERRORS: dict[int, str] = {
    4000: "Please verify that your Area Code search input parameters are correct.",
    4001: "Please verify that your Rate Center search input parameters are correct.",
    4002: "Please verify that your NPA, NPA-NXX, or NPA-NXX-X search input parameters are correct.",
    4003: "Please verify that your Toll Free Vanity search input parameters are correct.",
    4004: "Please verify that your Toll Free Wild Card search input parameters are correct.",
    4005: "Please verify that your City search input parameters are correct.",
    4006: "Please verify that your State search input parameters are correct.",
    4007: "Please verify that your Zip Code search input parameters are correct.",
    4008: "Please verify that your LATA search input parameters are correct.",
    4010: "Provided search criteria are unsupported or are not valid",
    4020: "Please verify that your orderBy search query parameter is correct. "
    "Valid values are: fullNumber,npaNxxx,npaNxx,areaCode",
    4022: "Please verify that your protected search query parameter is correct. "
    "Valid values are: NONE, ONLY, MIXED",
}
MISSING_CRITERIA = (  # Bandwidth's wording, typo included
    "One of more required search parameters are null or empty, "
    "please refer to the api documentation"
)
ORDER_BY = ("fullNumber", "npaNxxx", "npaNxx", "areaCode")


def search_error(code: int, field_name: str | None = None) -> InvalidInput:
    return InvalidInput(SEARCH_ERRORS[code], code=code, field=field_name)


# --- public value types ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberInfo:
    tn: str  # E.164, '+19195551234'
    npa: str
    nxx: str
    line: str
    city: str | None
    state: str | None
    rate_center: str | None
    lata: str | None
    zip: str | None
    toll_free: bool

    @property
    def national(self) -> str:
        return self.tn[2:]


_LINE_STR = tuple(f"{n:04d}" for n in range(10000))


class NumberRow(NamedTuple):
    """NumberInfo's fields as a tuple: ~20x cheaper to build, for 5000-number HTTP answers."""

    tn: str
    npa: str
    nxx: str
    line: str
    city: str | None
    state: str | None
    rate_center: str | None
    lata: str | None
    zip: str | None
    toll_free: bool

    @property
    def national(self) -> str:
        return self.tn[2:]


_AREA = re.compile(r"^[2-9]\d{2}$")
_NPANXX = re.compile(r"^[2-9]\d{2}[2-9]\d{2}$")
_NPANXXX = re.compile(r"^[2-9]\d{2}[2-9]\d{3}$")
_STATE = re.compile(r"^[A-Za-z]{2}$")
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
_LATA = re.compile(r"^\d{1,5}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .'\-&/]{0,63}$")
_TF_WILD = re.compile(r"^8[0-9*]{2}$")
_ALNUM = re.compile(r"^[A-Za-z0-9]+$")
_KEYPAD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "22233344455566677778889999" * 2,
)


def vanity_digits(text: str) -> str:
    """'NEWCARS' -> '6392277' (telephone keypad)."""
    return text.translate(_KEYPAD)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _spaces(value: str) -> str:
    return " ".join(value.upper().split())


@dataclass
class Search:
    """One availableNumbers query. String fields hold the request's text; `validate` normalises."""

    area_code: str | None = None
    npa_nxx: str | None = None
    npa_nxxx: str | None = None
    rate_center: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    lata: str | None = None
    toll_free_vanity: str | None = None
    toll_free_wildcard: str | None = None
    local_vanity: str | None = None
    ends_in: bool = False
    quantity: int = MAX_QUANTITY
    order_by: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Search:
        """Build from availableNumbers query parameters (names matched case-insensitively)."""
        p = {k.lower(): v for k, v in params.items()}
        qty_text = _clean(p.get("quantity"))
        if qty_text is None:
            quantity = MAX_QUANTITY
        else:
            try:
                quantity = int(qty_text)
            except ValueError:
                raise search_error(4010, "quantity") from None
        if _clean(p.get("protected")) and p["protected"].strip().upper() not in (
            "NONE",
            "ONLY",
            "MIXED",
        ):
            raise search_error(4022, "protected")
        parse_flag(p.get("lca"), "LCA")
        return cls(
            area_code=_clean(p.get("areacode")),
            npa_nxx=_clean(p.get("npanxx")),
            npa_nxxx=_clean(p.get("npanxxx")),
            rate_center=_clean(p.get("ratecenter")),
            state=_clean(p.get("state")),
            city=_clean(p.get("city")),
            zip=_clean(p.get("zip")),
            lata=_clean(p.get("lata")),
            toll_free_vanity=_clean(p.get("tollfreevanity")),
            toll_free_wildcard=_clean(p.get("tollfreewildcardpattern")),
            local_vanity=_clean(p.get("localvanity")),
            ends_in=parse_flag(p.get("endsin"), "endsIn"),
            quantity=quantity,
            order_by=_clean(p.get("orderby")),
        ).validate()

    def validate(self) -> Search:
        """Check Bandwidth's rules; return a normalised copy (raises InvalidInput, 40xx codes).

        Idempotent: a validated search validates again to itself.
        """
        q = replace(self)
        for name in (
            "area_code", "npa_nxx", "npa_nxxx", "rate_center", "state", "city", "zip", "lata",
            "toll_free_vanity", "toll_free_wildcard", "local_vanity", "order_by",
        ):  # fmt: skip
            setattr(q, name, _clean(getattr(q, name)))
        if not isinstance(q.quantity, int) or not 1 <= q.quantity <= MAX_QUANTITY:
            raise search_error(4010, "quantity")
        local = (q.area_code, q.npa_nxx, q.npa_nxxx, q.rate_center, q.state, q.city, q.zip, q.lata)
        tf = (q.toll_free_vanity, q.toll_free_wildcard)
        if not any(local) and not any(tf) and not q.local_vanity:
            raise InvalidInput(MISSING_CRITERIA, code=4010)
        if any(tf) and (any(local) or q.local_vanity or all(tf)):
            raise search_error(4010)
        if q.local_vanity and any((q.npa_nxx, q.npa_nxxx, q.rate_center, q.city, q.zip, q.lata)):
            raise search_error(4010)
        if sum(1 for v in (q.area_code, q.npa_nxx, q.npa_nxxx) if v) > 1:
            raise search_error(4002)
        if q.area_code and not _AREA.match(q.area_code):
            raise search_error(4000, "areaCode")
        if q.npa_nxx and not _NPANXX.match(q.npa_nxx):
            raise search_error(4002, "npaNxx")
        if q.npa_nxxx and not _NPANXXX.match(q.npa_nxxx):
            raise search_error(4002, "npaNxxx")
        if q.state:
            if not _STATE.match(q.state):
                raise search_error(4006, "state")
            q.state = q.state.upper()
        if q.rate_center:
            if not q.state or not _NAME.match(q.rate_center):
                raise search_error(4001, "rateCenter")
            q.rate_center = _spaces(q.rate_center)
        if q.city:
            if not q.state or not _NAME.match(q.city):
                raise search_error(4005, "city")
            q.city = _spaces(q.city)
        if q.zip:
            m = _ZIP.match(q.zip)
            if not m:
                raise search_error(4007, "zip")
            q.zip = m.group(1)
        if q.lata and not _LATA.match(q.lata):
            raise search_error(4008, "lata")
        if q.toll_free_vanity:
            if len(q.toll_free_vanity) < 7 or not _ALNUM.match(q.toll_free_vanity):
                raise search_error(4003, "tollFreeVanity")
            q.toll_free_vanity = q.toll_free_vanity.upper()
        if q.toll_free_wildcard and not _TF_WILD.match(q.toll_free_wildcard):
            raise search_error(4004, "tollFreeWildCardPattern")
        if q.local_vanity:
            if not 4 <= len(q.local_vanity) <= 7 or not _ALNUM.match(q.local_vanity):
                raise search_error(4010, "localVanity")
            q.local_vanity = q.local_vanity.upper()
        if q.order_by:
            match = [o for o in ORDER_BY if o.lower() == q.order_by.lower()]
            if not match:
                raise search_error(4020, "orderBy")
            q.order_by = match[0]
        return q

    @property
    def is_toll_free(self) -> bool:
        return bool(self.toll_free_vanity or self.toll_free_wildcard)

    def toll_free_npas(self) -> list[str]:
        pattern = self.toll_free_wildcard or "8**"
        return [
            n for n in TOLL_FREE_NPAS if all(p in ("*", c) for p, c in zip(pattern, n, strict=True))
        ]


def parse_flag(value: str | None, name: str = "flag") -> bool:
    """Bandwidth booleans: 'true'/'false' in any case; absent or empty is false."""
    text = (value or "").strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise search_error(4010, name)


# --- derivations shared by both sources --------------------------------------------------------


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def rate_center_for(city: str) -> str:
    """Bandwidth-style rate-center abbreviation: 'Winston-Salem' -> 'WINSTON SA'."""
    letters = re.sub(r"[^A-Z ]", " ", _ascii(city).upper().replace(".", "").replace("'", ""))
    return " ".join(letters.split())[:10].rstrip()


_ABBREV = {
    "ST": "SAINT", "STE": "SAINTE", "FT": "FORT", "MT": "MOUNT", "HTS": "HEIGHTS",
    "HGTS": "HEIGHTS", "SPGS": "SPRINGS", "SPG": "SPRING", "JCT": "JUNCTION", "VLY": "VALLEY",
    "BCH": "BEACH", "PT": "POINT", "LK": "LAKE", "HBR": "HARBOR", "CTR": "CENTER", "VLG": "VILLAGE",
    "TWP": "TOWNSHIP", "STA": "STATION", "CY": "CITY", "PK": "PARK", "N": "NORTH", "S": "SOUTH",
    "E": "EAST", "W": "WEST", "IS": "ISLAND", "GRV": "GROVE", "CRK": "CREEK", "BR": "BRANCH",
}  # fmt: skip


def city_key(city: str) -> str:
    """A spelling-tolerant key: 'Hasbrouck Hts' and 'HASBROUCK HEIGHTS' meet."""
    words = re.sub(r"[^A-Z0-9 ]", " ", _ascii(city).upper().replace(".", "").replace("'", ""))
    return " ".join(_ABBREV.get(w, w) for w in words.split())


def synthetic_lata(state: str, rate_center: str) -> str | None:
    slot = _REGION_SLOT.get(state)
    if slot is None:
        return None
    h = int.from_bytes(hashlib.blake2b(f"{state}|{rate_center}".encode(), digest_size=4).digest())
    return str(100 + LATA_BLOCK * slot + h % LATA_BLOCK)


def _nxx_ok(nxx: str) -> bool:
    return nxx[0] in "23456789" and nxx[1:] != "11" and nxx != "555"


TOLL_FREE_NXX: tuple[str, ...] = tuple(f"{n:03d}" for n in range(200, 1000) if _nxx_ok(f"{n:03d}"))


# --- the exchange index (generated source) -----------------------------------------------------


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


_GEO_LINE = re.compile(r"^ '(1\d{6})':\{'en': (?:u\()?'((?:[^'\\]|\\.)*)'")
_CITY_STATE = re.compile(r"^(.+), ([A-Z]{2})$")


def _nanp_geodata() -> Iterator[tuple[str, str]]:
    """(prefix, description) for NANP 7-digit prefixes.

    Reads phonenumbers.geodata's source modules line by line: importing GEOCODE_DATA would hold
    the whole world's ~290k prefixes (~100 MB) in memory for ~31k rows we need.
    """
    import phonenumbers

    folder = Path(phonenumbers.__file__).with_name("geodata")
    files = sorted(folder.glob("data*.py"), key=lambda p: int(p.stem[4:] or 0))
    if not files:  # layout changed: fall back to the (large) module
        from phonenumbers.geodata import GEOCODE_DATA

        for k, v in GEOCODE_DATA.items():
            if len(k) == 7 and k[0] == "1" and "en" in v:
                yield k, v["en"]
        return
    seen = False
    for path in files:
        found = False
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.startswith(" '1"):
                    continue
                m = _GEO_LINE.match(line)
                if m:
                    found = True
                    text = m.group(2)
                    if "\\" in text:
                        text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
                    yield m.group(1), text
        if seen and not found:
            break  # files are sorted by prefix: NANP ('1...') data is over
        seen = seen or found


def _zip_rows(in_process: bool = False) -> Iterator[tuple[str, str, str, float, float]]:
    """(zip, state, city, lat, lon) for every US zip code with coordinates.

    The `zipcodes` data set costs ~45 MB resident once loaded (and list_all() ~150 MB at peak),
    so it is read in a short-lived child process that prints the few fields we keep (unless
    this process is itself such a child: `in_process`).
    """
    import subprocess
    import sys

    code = "from openband.core.inventory import _print_zips; _print_zips()"
    try:
        if in_process:
            raise OSError("in process")
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
        )
        lines: Iterable[str] = done.stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        if not in_process:
            log.warning("zip table child failed; loading zipcodes in process", exc_info=True)
        lines = _zip_lines()
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 5:
            yield parts[0], parts[1], parts[2], float(parts[3]), float(parts[4])


def _zip_lines() -> Iterator[str]:
    from zipcodes import _zipcodes

    for state in US_STATES:  # per state: never all 42k dicts at once
        for z in _zipcodes.filter_by(None, state=state):
            try:
                lat, lon = float(z["lat"]), float(z["long"])
            except (KeyError, TypeError, ValueError):
                continue
            rank = "0" if z.get("zip_code_type") == "STANDARD" else "1"
            yield f"{z['zip_code']}\t{state}\t{rank}{z['city']}\t{lat}\t{lon}"


def _print_zips() -> None:
    import sys

    sys.stdout.write("\n".join(_zip_lines()))


class ZipTable:
    """zip -> (state, city key, lat, lon), compact: sorted zip ints in an array, cities shared."""

    def __init__(
        self, rows: Iterable[tuple[int, int]], cities: list[tuple[str, str, float, float]]
    ):
        ordered = sorted(rows)
        self.codes = array("I", (z for z, _ in ordered))
        self.city = array("I", (c for _, c in ordered))
        self.cities = cities

    def __len__(self) -> int:
        return len(self.codes)

    def get(self, zip5: str) -> tuple[str, str, float, float] | None:
        z = int(zip5)
        i = bisect.bisect_left(self.codes, z)
        if i < len(self.codes) and self.codes[i] == z:
            return self.cities[self.city[i]]
        return None


def _zip_tables(
    in_process: bool = False,
) -> tuple[ZipTable, dict[tuple[str, str], tuple[str, float, float]]]:
    """The zip table, and (state, city key) -> (the city's lowest standard zip, lat, lon)."""
    city_ids: dict[tuple[str, str], int] = {}
    cities: list[tuple[str, str, float, float]] = []
    best: dict[tuple[str, str], tuple[str, str, float, float]] = {}
    keys: dict[str, str] = {}
    rows: list[tuple[int, int]] = []
    for code, state, ranked_city, lat, lon in _zip_rows(in_process):
        rank, city = ranked_city[0], ranked_city[1:]
        key = keys.get(city)
        if key is None:
            key = keys[city] = city_key(city)
        cid = city_ids.get((state, key))
        if cid is None:
            cid = city_ids[(state, key)] = len(cities)
            cities.append((state, key, lat, lon))
        rows.append((int(code), cid))
        seen = best.get((state, key))
        if seen is None or (rank, code) < seen[:2]:
            best[(state, key)] = (rank, code, lat, lon)
    return ZipTable(rows, cities), {k: (v[1], v[2], v[3]) for k, v in best.items()}


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except (OSError, ValueError, IndexError):
        return 0


def build_index(in_process: bool = False) -> ExchangeIndex:
    started, rss0 = time.perf_counter(), _rss()
    zips, city_zip = _zip_tables(in_process)
    strings: dict[str, str] = {}

    def intern(s: str) -> str:
        return strings.setdefault(s, s)

    rows: list[Exchange] = []
    for prefix, desc in _nanp_geodata():
        m = _CITY_STATE.match(desc)
        npa, nxx = prefix[1:4], prefix[4:7]
        if not m or m.group(2) not in _REGION_SLOT or npa in TOLL_FREE_NPAS:
            continue
        if not _AREA.match(npa) or npa[1:] == "11" or not _nxx_ok(nxx):
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


def _load_index() -> ExchangeIndex:
    """Build the index in a child process and load it here, a piece at a time.

    Building is ~0.8 s of CPU under the GIL (regexes over ~31k prefixes), and one pickle.loads
    of the result ~0.15 s in a single C call (plus the full collections its ~200k new objects
    trigger). A server loads the index on a thread at start while it serves: every request then
    waited for the GIL, up to ~1 s for the first searches of an imported inventory. Pieces of a
    few ms, with the cyclic GC paused meanwhile, let the event loop run between them.
    """
    import gc
    import io
    import pickle
    import subprocess
    import sys

    started, rss0 = time.perf_counter(), _rss()
    code = "from openband.core.inventory import _print_index; _print_index()"
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
    import dataclasses
    import pickle
    import sys

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


# --- which lines are offered -------------------------------------------------------------------


def _h64(key: bytes, data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, key=key, digest_size=8).digest())


@lru_cache(maxsize=4)
def _permutation(seed: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A keyed permutation P of 0..9999 (doubled, for wrap-around slices) and its inverse."""
    key = hashlib.blake2b(seed.encode(), digest_size=32).digest()
    perm = sorted(range(LINES), key=lambda n: _h64(key, b"line:%d" % n))
    inverse = [0] * LINES
    for pos, n in enumerate(perm):
        inverse[n] = pos
    return tuple(perm + perm), tuple(inverse)


class Offer:
    """The offered lines of every exchange for one (seed, lines-per-exchange)."""

    def __init__(self, seed: str, per_exchange: int) -> None:
        self.n = per_exchange
        self.key = hashlib.blake2b(seed.encode(), digest_size=32).digest()
        self.perm2, self.inverse = _permutation(seed)
        self._sorted: dict[str, list[int]] = {}

    def offset(self, npanxx: str) -> int:
        return _h64(self.key, b"x:" + npanxx.encode()) % LINES

    def has(self, npanxx: str, line: int) -> bool:
        return (self.inverse[line] - self.offset(npanxx)) % LINES < self.n

    def lines(self, npanxx: str) -> list[int]:
        """The exchange's offered lines, ascending."""
        got = self._sorted.get(npanxx)
        if got is None:
            if self.n >= LINES:
                got = list(range(LINES))
            else:
                k = self.offset(npanxx)
                got = sorted(self.perm2[k : k + self.n])
            if len(self._sorted) > 4096:  # bounded: hot exchanges stay, memory does not grow
                self._sorted.clear()
            self._sorted[npanxx] = got
        return got


@lru_cache(maxsize=8192)
def _vanity_lines(nxx: str, digits: str, ends_in: bool) -> tuple[int, ...]:
    """Lines L such that nxx+L (7 digits) contains `digits` (or ends with it)."""
    size = len(digits)
    starts = [7 - size] if ends_in else range(0, 8 - size)
    found: set[int] = set()
    for p in starts:
        fixed: dict[int, str] = {}
        ok = True
        for j, d in enumerate(digits):
            pos = p + j
            if pos < 3:
                if nxx[pos] != d:
                    ok = False
                    break
            else:
                fixed[pos - 3] = d
        if not ok:
            continue
        free = [i for i in range(4) if i not in fixed]
        for n in range(10 ** len(free)):
            chars = ["0"] * 4
            for i, d in fixed.items():
                chars[i] = d
            rest = f"{n:0{len(free)}d}" if free else ""
            for i, d in zip(free, rest, strict=True):
                chars[i] = d
            found.add(int("".join(chars)))
    return tuple(sorted(found))


# --- the inventory -----------------------------------------------------------------------------


class Group(NamedTuple):
    """Candidate lines of one exchange (or NPA-NXX-X block), in the order they are offered."""

    npa: str
    nxx: str
    lines: Sequence[int]
    exchange: Exchange | None  # None for toll free


class Inventory:
    # Above this many candidates an exchange's owned numbers are fetched by prefix range;
    # below it (vanity searches) by exact number.
    DENSE = 32

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db
        self.offer = Offer(settings.inventory_seed, settings.inventory_lines_per_exchange)
        self._imported_hint = False  # which source the last search found (see _search)

    # -- public API --

    async def search(self, conn: AsyncConnection, q: Search) -> list[NumberInfo]:
        """Up to q.quantity available numbers (owned ones skipped), in a stable order."""
        return [NumberInfo(*r) for r in await self.search_rows(conn, q)]

    async def search_rows(self, conn: AsyncConnection, q: Search) -> list[NumberRow]:
        """`search` as lightweight tuples (same fields, same order)."""
        return await self._search(conn, q, True)  # type: ignore[return-value]

    async def search_numbers(self, conn: AsyncConnection, q: Search) -> list[str]:
        """`search`'s national numbers ('9195551234') only, same order: no rows are built."""
        return await self._search(conn, q, False)  # type: ignore[return-value]

    async def _search(
        self, conn: AsyncConnection, q: Search, rows: bool
    ) -> list[NumberRow] | list[str]:
        from openband.store import inventory as store

        q = q.validate()
        # Which source is asked by the database in this search's own transaction, never cached:
        # another process (the CLI, a second server) may import or clear at any time. The hint
        # only picks the first question: an imported search that finds rows proves the table is
        # not empty, so it needs no has_imported query; one that finds none asks.
        imported = self._imported_hint
        found: list = []
        if imported:
            found = await self._search_imported(conn, q, rows)
            if not found and not await store.has_imported(conn):
                imported = False
        elif await store.has_imported(conn):
            imported = True
            found = await self._search_imported(conn, q, rows)
        self._imported_hint = imported
        if not imported:
            idx = await self._index()
            found = await self._search_generated(conn, idx, q, rows)
        if q.order_by:  # every allowed key is a prefix of the full number
            if rows:
                found.sort(key=_tn_key)
            else:
                found.sort()
        return found

    @staticmethod
    async def _search_imported(
        conn: AsyncConnection, q: Search, rows: bool
    ) -> list[NumberRow] | list[str]:
        from openband.store import inventory as store

        if rows:
            return [_row_info(r) for r in await store.search_imported(conn, q)]
        return [tn[2:] for tn in await store.search_imported_numbers(conn, q)]

    async def lookup(self, conn: AsyncConnection, tn_e164: str) -> NumberInfo | None:
        """The number's inventory entry (owned or not), None if it is not in the inventory."""
        from openband.store import inventory as store

        if await store.has_imported(conn):
            row = await store.get_imported(conn, tn_e164)
            return NumberInfo(*_row_info(row)) if row else None
        parts = _split(tn_e164)
        if parts is None:
            return None
        npa, nxx, line = parts
        if npa in TOLL_FREE_NPAS:
            if not _nxx_ok(nxx) or not self.offer.has(npa + nxx, int(line)):
                return None
            return _toll_free_info(npa, nxx, int(line))
        idx = await self._index()
        i = idx.by_npanxx.get(npa + nxx)
        if i is None or not self.offer.has(npa + nxx, int(line)):
            return None
        return _info(idx.exchanges[i], int(line))

    def describe(self, tn_e164: str) -> NumberInfo | None:
        """Geography of any NANP number in a known exchange, in the inventory or not."""
        parts = _split(tn_e164)
        if parts is None:
            return None
        npa, nxx, line = parts
        if npa in TOLL_FREE_NPAS:
            return _toll_free_info(npa, nxx, int(line))
        ex = exchange_index().describe(npa, nxx)
        return _info(ex, int(line)) if ex else None

    def generated_size(self) -> tuple[int, int]:
        """(local exchanges, total numbers incl. toll free) of the generated inventory."""
        idx = exchange_index()
        per = min(self.offer.n, LINES)
        return len(idx.exchanges), (
            len(idx.exchanges) + len(TOLL_FREE_NPAS) * len(TOLL_FREE_NXX)
        ) * per

    # -- generated source --

    async def _index(self) -> ExchangeIndex:
        if _INDEX is not None:
            return _INDEX
        return await asyncio.to_thread(exchange_index)  # first build must not stall the loop

    async def _search_generated(
        self, conn: AsyncConnection, idx: ExchangeIndex, q: Search, rows: bool = True
    ) -> list[NumberRow] | list[str]:
        from openband.store import inventory as store

        if q.area_code and q.area_code not in idx.npa_range and q.area_code not in TOLL_FREE_NPAS:
            raise InvalidInput(
                f"The area code specified {q.area_code} is not present as a valid entry in our "
                "system",
                code=4000,
                field="areaCode",
            )
        groups = iter(self._groups(idx, q))
        out: list = []
        want = q.quantity
        while len(out) < want:
            need = want - len(out)
            batch: list[Group] = []
            count = 0
            for g in groups:
                batch.append(g)
                count += len(g.lines)
                # A little slack for owned numbers, so one round trip usually suffices.
                if count >= need + need // 8 + 8 or len(batch) >= 200:
                    break
            if not batch:
                break
            prefixes, exact = [], []
            for g in batch:
                if len(g.lines) > self.DENSE:
                    prefixes.append(f"+1{g.npa}{g.nxx}")
                else:
                    exact.extend(f"+1{g.npa}{g.nxx}{n:04d}" for n in g.lines)
            owned = await store.owned_numbers(conn, prefixes, exact)
            if rows:
                if _fill_rows(out, batch, owned, want):
                    return out
            elif _fill_numbers(out, batch, owned, want):
                return out
        return out

    def _groups(self, idx: ExchangeIndex, q: Search) -> Iterator[Group]:
        offer = self.offer
        if q.toll_free_vanity:
            digits = vanity_digits(q.toll_free_vanity)[:7]
            nxx, line = digits[:3], int(digits[3:])
            if not _nxx_ok(nxx):
                return
            for npa in TOLL_FREE_NPAS:
                if offer.has(npa + nxx, line):
                    yield Group(npa, nxx, (line,), None)
            return
        if q.toll_free_wildcard:
            for npa in q.toll_free_npas():
                for nxx in TOLL_FREE_NXX:
                    yield Group(npa, nxx, offer.lines(npa + nxx), None)
            return
        npa = q.area_code or (q.npa_nxx or q.npa_nxxx or "")[:3] or None
        if npa in TOLL_FREE_NPAS:  # areaCode/npaNxx of a toll-free code: no geography
            if any((q.state, q.city, q.rate_center, q.zip, q.lata, q.local_vanity)):
                return
            nxxs = [(q.npa_nxx or q.npa_nxxx)[3:6]] if (q.npa_nxx or q.npa_nxxx) else TOLL_FREE_NXX
            for nxx in nxxs:
                if _nxx_ok(nxx):
                    yield from self._lines_group(npa, nxx, None, q)
            return
        for i in self._exchange_ids(idx, q):
            e = idx.exchanges[i]
            yield from self._lines_group(e.npa, e.nxx, e, q)

    def _lines_group(self, npa: str, nxx: str, e: Exchange | None, q: Search) -> Iterator[Group]:
        key = npa + nxx
        if q.local_vanity:
            digits = vanity_digits(q.local_vanity)
            has = self.offer.has
            lines: Sequence[int] = [n for n in _vanity_lines(nxx, digits, q.ends_in) if has(key, n)]
        else:
            lines = self.offer.lines(key)
            if q.npa_nxxx:
                x = int(q.npa_nxxx[6])
                lines = lines[
                    bisect.bisect_left(lines, x * 1000) : bisect.bisect_left(lines, (x + 1) * 1000)
                ]
        if lines:
            yield Group(npa, nxx, lines, e)

    def _exchange_ids(self, idx: ExchangeIndex, q: Search) -> Iterable[int]:
        """Candidate exchanges: the smallest index list, filtered by every other criterion."""
        lists: list[Sequence[int]] = []
        prefix = q.npa_nxx or (q.npa_nxxx[:6] if q.npa_nxxx else None)
        if prefix:
            i = idx.by_npanxx.get(prefix)
            lists.append([i] if i is not None else [])
        elif q.area_code:
            lists.append(range(*idx.npa_range.get(q.area_code, (0, 0))))
        if q.state:
            if q.rate_center:
                lists.append(idx.by_state_rc.get((q.state, rate_center_for(q.rate_center)), []))
            if q.city:
                lists.append(idx.by_state_city.get((q.state, city_key(q.city)), []))
            if not q.rate_center and not q.city:
                lists.append(idx.by_state.get(q.state, []))
        if q.lata:
            lists.append(idx.by_lata.get(q.lata, []))
        zip_ids: list[int] | None = None
        if q.zip:
            zip_ids = self._zip_exchanges(idx, q.zip)
            lists.append(zip_ids)
        if not lists:  # local vanity alone: nationwide
            return range(len(idx.exchanges))
        base = min(lists, key=len)
        if len(lists) == 1:
            return base
        others = [set(x) for x in lists if x is not base]
        return (i for i in base if all(i in s for s in others))

    @staticmethod
    def _zip_exchanges(idx: ExchangeIndex, zip5: str) -> list[int]:
        z = idx.zips.get(zip5)
        if z is None:
            return []
        state, key, lat, lon = z
        same_city = idx.by_state_city.get((state, key))
        if same_city:
            return same_city
        # No exchange in the zip's city: the state's exchanges, nearest city first.
        far = float("inf")

        def distance(i: int) -> tuple[float, int]:
            e = idx.exchanges[i]
            if e.lat is None or e.lon is None:
                return (far, i)
            return (_haversine(lat, lon, e.lat, e.lon), i)

        return sorted(idx.by_state.get(state, []), key=distance)


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 7917.5 * math.asin(min(1.0, math.sqrt(a)))  # miles


def _fill_rows(out: list[NumberRow], batch: list[Group], owned: set[str], want: int) -> bool:
    """Append the batch's unowned numbers to `out` as rows; True once `out` holds `want`."""
    # tuple.__new__ skips NamedTuple's Python-level constructor (several times faster) and line
    # strings are precomputed.
    make, lines_str = tuple.__new__, _LINE_STR
    for g in batch:
        npa, nxx = g.npa, g.nxx
        head = f"+1{npa}{nxx}"
        e = g.exchange
        if e is not None:
            city, state, rc, lata, zip_, tf = (
                e.city, e.state, e.rate_center, e.lata or None, e.zip, False
            )  # fmt: skip
        else:
            city = state = rc = lata = zip_ = None
            tf = True
        for n in g.lines:
            line = lines_str[n]
            tn = head + line
            if owned and tn in owned:
                continue
            out.append(make(NumberRow, (tn, npa, nxx, line, city, state, rc, lata, zip_, tf)))
            if len(out) >= want:
                return True
    return False


def _fill_numbers(out: list[str], batch: list[Group], owned: set[str], want: int) -> bool:
    """`_fill_rows` for national numbers only: one list comprehension per exchange, and only
    the lines still needed are formatted when the exchange has no owned number."""
    lines_str = _LINE_STR
    owned_heads = {t[2:8] for t in owned}
    national = {t[2:] for t in owned}
    for g in batch:
        head = g.npa + g.nxx
        need = want - len(out)
        if head in owned_heads:
            got = [t for t in [head + lines_str[n] for n in g.lines] if t not in national]
        else:
            got = [head + lines_str[n] for n in g.lines[:need]]
        if len(got) >= need:
            out.extend(got[:need])
            return True
        out.extend(got)
    return False


def _tn_key(n: NumberRow) -> str:
    return n.tn


def _split(tn_e164: str) -> tuple[str, str, str] | None:
    digits = tn_e164[2:] if tn_e164.startswith("+1") else tn_e164
    if len(digits) != 10 or not digits.isdigit() or not _NPANXX.match(digits[:6]):
        return None
    return digits[:3], digits[3:6], digits[6:]


def _info(e: Exchange, line: int) -> NumberInfo:
    return NumberInfo(
        f"+1{e.npa}{e.nxx}{line:04d}", e.npa, e.nxx, f"{line:04d}", e.city, e.state,
        e.rate_center, e.lata or None, e.zip, False,
    )  # fmt: skip


def _toll_free_info(npa: str, nxx: str, line: int) -> NumberInfo:
    return NumberInfo(
        f"+1{npa}{nxx}{line:04d}", npa, nxx, f"{line:04d}", None, None, None, None, None, True
    )


def _row_info(r: Sequence[object]) -> NumberRow:
    """A row selected with store.inventory._ROW_COLUMNS (NumberRow's order) -> NumberRow."""
    tn, npa, nxx, line, city, state, rc, lata, zip_, tf = r
    return tuple.__new__(NumberRow, (tn, npa, nxx, line, city, state, rc, lata, zip_, bool(tf)))


# --- operator import ---------------------------------------------------------------------------

IMPORT_COLUMNS = ("number", "city", "state", "rate_center", "lata", "zip")


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.imported / self.seconds if self.seconds else 0.0


def parse_import_row(row: Mapping[str, str | None]) -> dict[str, object]:
    """One CSV row -> an inventory_numbers row (raises InvalidInput)."""
    from openband.core.phone import tn_to_e164

    raw = (row.get("number") or "").strip()
    if not raw:
        raise InvalidInput("number is required", field="number")
    tn = tn_to_e164(raw)
    npa, nxx, line = tn[2:5], tn[5:8], tn[8:]

    def text(name: str, limit: int) -> str | None:
        v = _clean(row.get(name))
        if v is not None and len(v) > limit:
            raise InvalidInput(f"{name} is longer than {limit} characters", field=name)
        return v

    state = text("state", 2)
    if state is not None:
        if not _STATE.match(state):
            raise InvalidInput(f"state {state!r} is not a two-letter code", field="state")
        state = state.upper()
    lata = text("lata", 8)
    if lata is not None and not lata.isdigit():
        raise InvalidInput(f"lata {lata!r} is not numeric", field="lata")
    zip_code = _clean(row.get("zip"))
    if zip_code is not None:
        m = _ZIP.match(zip_code)
        if not m:
            raise InvalidInput(f"zip {zip_code!r} is not a US zip code", field="zip")
        zip_code = m.group(1)
    city = text("city", 64)
    rc = text("rate_center", 32)
    return {
        "tn": tn, "npa": npa, "nxx": nxx, "line": line,
        "city": _spaces(city) if city else None, "state": state,
        "rate_center": _spaces(rc) if rc else None, "lata": lata, "zip": zip_code,
        "toll_free": npa in TOLL_FREE_NPAS,
    }  # fmt: skip


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str | None]]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header: Sequence[str] = IMPORT_COLUMNS
        for lineno, cells in enumerate(reader, start=1):
            if not cells or not any(c.strip() for c in cells):
                continue
            if lineno == 1 and cells[0].strip().lower() in ("number", "tn", "telephonenumber"):
                header = [c.strip().lower() for c in cells]
                header = ["number" if h in ("tn", "telephonenumber") else h for h in header]
                continue
            yield lineno, dict(zip(header, cells, strict=False))


def import_csv(engine: Engine, path: Path, batch_size: int = 20_000) -> ImportReport:
    """Upsert a CSV into inventory_numbers in batches (idempotent: a row may be imported again)."""
    from openband.store import inventory as store

    report = ImportReport()
    started = time.perf_counter()
    batch: list[dict[str, object]] = []
    for lineno, row in _csv_rows(path):
        report.rows += 1
        try:
            batch.append(parse_import_row(row))
        except InvalidInput as exc:
            report.rejected += 1
            if len(report.errors) < 10:
                report.errors.append(f"line {lineno}: {exc.description}")
            continue
        if len(batch) >= batch_size:
            report.imported += store.bulk_upsert(engine, batch)
            batch = []
    if batch:
        report.imported += store.bulk_upsert(engine, batch)
    report.seconds = time.perf_counter() - started
    return report
