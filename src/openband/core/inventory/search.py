"""Searches and lookups of the number inventory, in whichever source is in use.

Two sources, never mixed: the generated inventory (the exchange index and the offered lines of
each exchange) and the imported one (the `inventory_numbers` table, searched in SQL). Which source
applies is read from the database in each search's own transaction, never cached: the CLI or
another server process may import or clear at any moment, and the next search must see it (see
Inventory._search).

A number is available when it is in the inventory and has no phone_numbers row. Searches ask the
database about the candidate exchanges/numbers only, and are deterministic: same query and same
ownership give the same answer. In the generated inventory a zip search returns the exchanges of
that zip's city, or, when the city has none, the state's exchanges nearest first.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from openband.core.inventory import index  # the module: its index is read as built so far
from openband.core.inventory.geography import (
    NPA_NXX,
    TOLL_FREE_NPAS,
    TOLL_FREE_NXX,
    city_key,
    nxx_ok,
    rate_center_for,
)
from openband.core.inventory.index import Exchange, ExchangeIndex
from openband.core.inventory.offer import LINES, Offer
from openband.core.inventory.query import Search, vanity_digits
from openband.errors import InvalidInput
from openband.store import inventory as store

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from openband.config import Settings
    from openband.store.db import Database


class NumberInfo(NamedTuple):
    """A number of the inventory and its attributes. A tuple: a 5000-number answer builds
    5000 of them, with tuple.__new__ (see _fill_rows), ~20x cheaper than a dataclass."""

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


NumberRow = NumberInfo  # the name the availableNumbers route uses for search_rows' answers

_LINE_STR = tuple(f"{n:04d}" for n in range(LINES))


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
        return await self._search(conn, q, True)  # type: ignore[return-value]

    async def search_rows(self, conn: AsyncConnection, q: Search) -> list[NumberRow]:
        """`search`, by the name the availableNumbers route calls it."""
        return await self.search(conn, q)

    async def search_numbers(self, conn: AsyncConnection, q: Search) -> list[str]:
        """`search`'s national numbers ('9195551234') only, same order: no rows are built."""
        return await self._search(conn, q, False)  # type: ignore[return-value]

    # -- the availableNumbers search, each in a read of its own --

    async def available_rows(self, q: Search) -> list[NumberRow]:
        """`search_rows` in its own read: on SQLite its statements run on the event loop's
        thread (store/inventory.run_read: small reads cost less there than a thread hop)."""
        db = self._db()
        return await store.run_read(db, lambda conn: self.search_rows(conn, q))

    async def available_numbers(self, q: Search) -> list[str]:
        """`search_numbers` in its own read (as `available_rows`)."""
        db = self._db()
        return await store.run_read(db, lambda conn: self.search_numbers(conn, q))

    def _db(self) -> Database:
        if self.db is None:
            raise RuntimeError("this Inventory was built without a database")
        return self.db

    async def _search(
        self, conn: AsyncConnection, q: Search, rows: bool
    ) -> list[NumberInfo] | list[str]:
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
    ) -> list[NumberInfo] | list[str]:
        f = _imported_query(q)
        if rows:
            return [_row_info(r) for r in await store.search_imported(conn, f)]
        return [tn[2:] for tn in await store.search_imported_numbers(conn, f)]

    async def lookup(self, conn: AsyncConnection, tn_e164: str) -> NumberInfo | None:
        """The number's inventory entry (owned or not), None if it is not in the inventory."""
        if await store.has_imported(conn):
            row = await store.get_imported(conn, tn_e164)
            return _row_info(row) if row else None
        parts = _split(tn_e164)
        if parts is None:
            return None
        npa, nxx, line = parts
        if npa in TOLL_FREE_NPAS:
            if not nxx_ok(nxx) or not self.offer.has(npa + nxx, int(line)):
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
        ex = index.exchange_index().describe(npa, nxx)
        return _info(ex, int(line)) if ex else None

    def generated_size(self) -> tuple[int, int]:
        """(local exchanges, total numbers incl. toll free) of the generated inventory."""
        idx = index.exchange_index()
        per = min(self.offer.n, LINES)
        return len(idx.exchanges), (
            len(idx.exchanges) + len(TOLL_FREE_NPAS) * len(TOLL_FREE_NXX)
        ) * per

    # -- generated source --

    async def _index(self) -> ExchangeIndex:
        built = index.built_index()
        if built is not None:
            return built
        return await asyncio.to_thread(index.exchange_index)  # first build must not stall the loop

    async def _search_generated(
        self, conn: AsyncConnection, idx: ExchangeIndex, q: Search, rows: bool = True
    ) -> list[NumberInfo] | list[str]:
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
            if not nxx_ok(nxx):
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
                if nxx_ok(nxx):
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


def _fill_rows(out: list[NumberInfo], batch: list[Group], owned: set[str], want: int) -> bool:
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
            out.append(make(NumberInfo, (tn, npa, nxx, line, city, state, rc, lata, zip_, tf)))
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


def _tn_key(n: NumberInfo) -> str:
    return n.tn


def _split(tn_e164: str) -> tuple[str, str, str] | None:
    digits = tn_e164[2:] if tn_e164.startswith("+1") else tn_e164
    if (
        len(digits) != 10
        or not (digits.isascii() and digits.isdigit())
        or not NPA_NXX.match(digits[:6])
    ):
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


def _row_info(r: Sequence[object]) -> NumberInfo:
    """A row selected with store.inventory._ROW_COLUMNS (NumberInfo's order) -> NumberInfo."""
    tn, npa, nxx, line, city, state, rc, lata, zip_, tf = r
    return tuple.__new__(NumberInfo, (tn, npa, nxx, line, city, state, rc, lata, zip_, bool(tf)))


def _imported_query(q: Search) -> store.ImportedQuery:
    """The store's filter for a validated search: the inventory's rules (keypad letters, the
    NPAs a toll-free wildcard matches, which code a prefix names) are applied here."""
    if q.toll_free_vanity:
        digits = vanity_digits(q.toll_free_vanity)[:7]
        return store.ImportedQuery(
            q.quantity, toll_free_npas=TOLL_FREE_NPAS, nxx=digits[:3], line=digits[3:]
        )
    if q.toll_free_wildcard:
        return store.ImportedQuery(q.quantity, toll_free_npas=tuple(q.toll_free_npas()))
    prefix = q.npa_nxxx or q.npa_nxx or q.area_code or ""  # validation allows one at most
    return store.ImportedQuery(
        q.quantity,
        npa=prefix[:3] or None,
        nxx=prefix[3:6] or None,
        line_digit=prefix[6:] or None,
        state=q.state,
        rate_center=q.rate_center,
        city=q.city,
        lata=q.lata,
        zip=q.zip,
        vanity=vanity_digits(q.local_vanity) if q.local_vanity else None,
        ends_in=q.ends_in,
    )
