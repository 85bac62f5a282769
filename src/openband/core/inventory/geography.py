"""NANP numbering and geography: which codes exist, and the attributes derived from open data.

Every real area code + exchange (NPA-NXX) in libphonenumber's US/Canada geocoding data has its
real city and state. Derived attributes are stable functions of that data:
  - rate center: the city upper-cased, letters and spaces only, cut to 10 characters (Bandwidth's
    rate-center abbreviations are at most 10 characters, e.g. RALEIGH);
  - LATA: SYNTHETIC. A stable 3-digit code per (state, rate center) inside a fixed per-state
    block of 12 codes (100 + 12 * slot .. +11). Real LATAs are not in any open data set.
  - zip: a representative zip code of the city (the `zipcodes` package).
Never exchanges: N11 codes, NXX 555 (555-01xx are the simulator's fictional numbers). Toll free:
800 833 844 855 866 877 888, every valid NXX, no geography.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import re
import subprocess
import sys
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TOLL_FREE_NPAS: tuple[str, ...] = ("800", "833", "844", "855", "866", "877", "888")

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
REGION_SLOT: dict[str, int] = {r: i for i, r in enumerate(REGIONS)}
LATA_BLOCK = 12

# NANP formats: an NPA and an NXX start with 2-9.
NPA = re.compile(r"^[2-9]\d{2}$", re.ASCII)
NPA_NXX = re.compile(r"^[2-9]\d{2}[2-9]\d{2}$", re.ASCII)


def nxx_ok(nxx: str) -> bool:
    """An NXX that can be an exchange: not N11, not 555."""
    return nxx[0] in "23456789" and nxx[1:] != "11" and nxx != "555"


TOLL_FREE_NXX: tuple[str, ...] = tuple(f"{n:03d}" for n in range(200, 1000) if nxx_ok(f"{n:03d}"))


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
    slot = REGION_SLOT.get(state)
    if slot is None:
        return None
    h = int.from_bytes(hashlib.blake2b(f"{state}|{rate_center}".encode(), digest_size=4).digest())
    return str(100 + LATA_BLOCK * slot + h % LATA_BLOCK)


# --- libphonenumber's NANP geocoding data ------------------------------------------------------

_GEO_LINE = re.compile(r"^ '(1\d{6})':\{'en': (?:u\()?'((?:[^'\\]|\\.)*)'")


def nanp_geodata() -> Iterator[tuple[str, str]]:
    """(prefix, description) for NANP 7-digit prefixes.

    Reads phonenumbers.geodata's source modules line by line: importing GEOCODE_DATA would hold
    the whole world's ~290k prefixes (~100 MB) in memory for ~31k rows we need.
    """
    import phonenumbers  # only to find its data folder

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


# --- zip codes ---------------------------------------------------------------------------------


def _zip_rows(in_process: bool = False) -> Iterator[tuple[str, str, str, float, float]]:
    """(zip, state, city, lat, lon) for every US zip code with coordinates.

    The `zipcodes` data set costs ~45 MB resident once loaded (and list_all() ~150 MB at peak),
    so it is read in a short-lived child process that prints the few fields we keep (unless
    this process is itself such a child: `in_process`).
    """
    code = f"from {__name__} import _print_zips; _print_zips()"
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
    from zipcodes import _zipcodes  # here: only the child (or the fallback) reads the data set

    for state in US_STATES:  # per state: never all 42k dicts at once
        for z in _zipcodes.filter_by(None, state=state):
            try:
                lat, lon = float(z["lat"]), float(z["long"])
            except (KeyError, TypeError, ValueError):
                continue
            rank = "0" if z.get("zip_code_type") == "STANDARD" else "1"
            yield f"{z['zip_code']}\t{state}\t{rank}{z['city']}\t{lat}\t{lon}"


def _print_zips() -> None:
    """The child of _zip_rows."""
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


def zip_tables(
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
