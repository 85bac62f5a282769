"""The inventory: generated NANP geography, search rules, ownership, and the import path."""

from __future__ import annotations

import ast
import asyncio
import importlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from openband.config import Settings
from openband.core import inventory as inv
from openband.core.inventory import Inventory, NumberInfo, Search
from openband.errors import InvalidInput
from openband.store import accounts as accounts_repo
from openband.store.db import Database, make_sync_engine
from openband.store.schema import inventory_numbers, phone_numbers
from tests.support.backends import backends, migrated_database


@pytest.fixture(scope="module", params=backends())
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database the module's read-only searches share, on each backend."""
    with migrated_database(request.param, tmp_path_factory.mktemp("inv"), "inv.db") as url:
        yield url


@pytest.fixture(params=backends())
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own for a test that owns numbers or imports, on each backend."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite only: for what only SQLite has (the inline reads' step budget)."""
    with migrated_database("sqlite", tmp_path_factory.mktemp("inv-sqlite"), "inv.db") as url:
        yield url


def settings(url: str, lines: int = 1000, seed: str = "openband") -> Settings:
    return Settings(
        database_url=url, inventory_lines_per_exchange=lines, inventory_seed=seed, dev_account=False
    )


def run(url: str, fn, lines: int = 1000, seed: str = "openband"):  # type: ignore[no-untyped-def]
    """Run `await fn(inventory, conn)` on a fresh engine (each test gets its own event loop)."""

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url)
        try:
            async with db.begin() as conn:
                return await fn(Inventory(settings(url, lines, seed), db), conn)
        finally:
            await db.dispose()

    return asyncio.run(go())


def search(url: str, lines: int = 1000, seed: str = "openband", **kw: object) -> list[NumberInfo]:
    return run(url, lambda i, c: i.search(c, Search(**kw)), lines, seed)  # type: ignore[arg-type]


def own(url: str, tns: list[str]) -> None:
    async def go(_inv: Inventory, conn) -> None:  # type: ignore[no-untyped-def]
        if await accounts_repo.get_account(conn, "owner") is None:
            await accounts_repo.insert_account(conn, "owner", "Owner", None, {})
        from openband.clock import now

        for tn in tns:
            await conn.execute(
                phone_numbers.insert().values(
                    tn=tn,
                    account_id="owner",
                    npa=tn[2:5],
                    nxx=tn[5:8],
                    status="Inservice",
                    created_at=now(),
                    updated_at=now(),
                )
            )

    run(url, go)


@pytest.fixture(scope="module")
def index() -> inv.ExchangeIndex:
    return inv.exchange_index()


# --- geography -----------------------------------------------------------------------------------


def test_child_processes_run(caplog: pytest.LogCaptureFixture) -> None:
    """The exchange index and the zip table are read in child processes; a broken child command
    only logs a warning and falls back to building in process."""
    from openband.core.inventory import geography, index

    with caplog.at_level(logging.WARNING):
        built = index._load_index()
        zips = sum(1 for _ in geography._zip_rows())
    assert not caplog.records
    assert len(built.exchanges) > 25_000 and zips > 30_000


def test_index_is_real_nanp_geography(index: inv.ExchangeIndex) -> None:
    assert len(index.exchanges) > 25_000
    raleigh = [e for e in index.exchanges if e.npa == "919" and e.city == "RALEIGH"]
    assert raleigh and all(e.state == "NC" and e.rate_center == "RALEIGH" for e in raleigh)
    assert len({e.lata for e in raleigh}) == 1  # one LATA per (state, rate center)
    assert all(e.nxx != "555" and e.nxx[1:] != "11" for e in index.exchanges)
    assert all(len(e.rate_center) <= 10 and e.rate_center.replace(" ", "").isalpha()
               for e in index.exchanges)  # fmt: skip
    assert {e.state for e in index.exchanges} >= {"NC", "CA", "NY", "TX", "ON"}
    lata = int(raleigh[0].lata or 0)
    assert 100 <= lata <= 999


def test_919_numbers_are_in_nc_with_consistent_attributes(db_url: str) -> None:
    found = search(db_url, area_code="919", quantity=300)
    assert len(found) == 300
    by_rc: dict[str, set[str | None]] = {}
    for n in found:
        assert n.tn.startswith("+1919") and n.state == "NC" and not n.toll_free
        assert n.national == n.tn[2:] and n.tn == f"+1{n.npa}{n.nxx}{n.line}"
        by_rc.setdefault(n.rate_center or "", set()).add(n.lata)
    assert all(len(latas) == 1 for latas in by_rc.values())
    assert [n.tn for n in found] == sorted(n.tn for n in found)


def test_describe_any_number_of_a_known_exchange(db_url: str) -> None:
    i = Inventory(settings(db_url))
    d = i.describe("+19192121234")
    assert d is not None and (d.city, d.state, d.rate_center) == ("RALEIGH", "NC", "RALEIGH")
    assert d.zip and d.zip.startswith("27")
    tf = i.describe("+18005550123")
    assert tf is not None and tf.toll_free and tf.state is None
    assert i.describe("+19195550123") is None  # 555 is not an exchange
    assert i.describe("+442071234567") is None


# --- determinism and the offered lines -----------------------------------------------------------


def test_search_is_deterministic_and_seeded(db_url: str) -> None:
    a = search(db_url, state="NC", quantity=50)
    b = search(db_url, state="NC", quantity=50)
    assert a == b
    c = search(db_url, state="NC", quantity=50, seed="another")
    assert [n.tn for n in a] != [n.tn for n in c]


def test_lines_per_exchange(db_url: str) -> None:
    got = search(db_url, lines=37, npa_nxx="919212", quantity=5000)
    assert len(got) == 37 and len({n.line for n in got}) == 37
    full = search(db_url, lines=10000, npa_nxx="919212", quantity=5000)
    assert len(full) == 5000 and full[0].line == "0000"


def test_reserved_555_and_n11_never_offered(db_url: str) -> None:
    for kw in ({"npa_nxx": "919555"}, {"npa_nxx": "919411"}, {"npa_nxx": "800555"}):
        assert search(db_url, **kw) == []
    assert all(n.nxx != "555" for n in search(db_url, toll_free_wildcard="8**", quantity=5000))


def test_lookup(db_url: str) -> None:
    offered = search(db_url, npa_nxx="919212", quantity=1)[0]
    got = run(db_url, lambda i, c: i.lookup(c, offered.tn))
    assert got == offered
    lines = {n.line for n in search(db_url, npa_nxx="919212", quantity=5000)}
    missing = next(f"{n:04d}" for n in range(10000) if f"{n:04d}" not in lines)
    assert run(db_url, lambda i, c: i.lookup(c, f"+1919212{missing}")) is None
    assert run(db_url, lambda i, c: i.lookup(c, "+19195550100")) is None


# --- every filter --------------------------------------------------------------------------------


def test_toll_free(db_url: str) -> None:
    got = search(db_url, toll_free_wildcard="8**", quantity=20)
    assert len(got) == 20 and all(n.toll_free and n.npa in inv.TOLL_FREE_NPAS for n in got)
    assert all(n.city is None and n.state is None for n in got)
    got = search(db_url, toll_free_wildcard="87*", quantity=10)
    assert {n.npa for n in got} == {"877"}
    npas = {n.npa for n in search(db_url, toll_free_wildcard="8*8", quantity=5000, lines=10000)}
    assert npas == {"888"}


def test_toll_free_vanity(db_url: str) -> None:
    got = search(db_url, toll_free_vanity="NEWCARS", lines=10000)
    assert {n.npa for n in got} == set(inv.TOLL_FREE_NPAS)
    assert all(n.nxx + n.line == "6392277" for n in got)


def test_npa_nxx_and_npa_nxxx(db_url: str) -> None:
    assert {n.nxx for n in search(db_url, npa_nxx="919212", quantity=100)} == {"212"}
    got = search(db_url, npa_nxxx="9192123", quantity=5000)
    assert got and all(n.line.startswith("3") for n in got)


def test_state_city_rate_center_lata_zip(db_url: str) -> None:
    assert {n.state for n in search(db_url, state="ca", quantity=200)} == {"CA"}
    city = search(db_url, state="NC", city="raleigh", quantity=100)
    assert city and {n.city for n in city} == {"RALEIGH"}
    rc = search(db_url, state="NC", rate_center="Raleigh", quantity=100)
    assert rc and {n.rate_center for n in rc} == {"RALEIGH"}
    lata = city[0].lata
    assert {n.lata for n in search(db_url, lata=lata, quantity=100)} == {lata}
    by_zip = search(db_url, zip="27601", quantity=50)
    assert by_zip and {(n.city, n.state) for n in by_zip} == {("RALEIGH", "NC")}
    assert search(db_url, zip=city[0].zip, quantity=1)[0].city == "RALEIGH"  # round trip
    assert search(db_url, area_code="919", state="CA") == []  # criteria combine


def test_zip_without_exchange_falls_back_to_nearest_in_state(
    db_url: str, index: inv.ExchangeIndex
) -> None:
    # A zip whose city has no exchange of its own.
    lonely = next(
        code
        for code, cid in zip(index.zips.codes, index.zips.city, strict=True)
        if index.zips.cities[cid][0] == "NC"
        and (index.zips.cities[cid][0], index.zips.cities[cid][1]) not in index.by_state_city
    )
    got = search(db_url, zip=f"{lonely:05d}", quantity=10)
    assert got and {n.state for n in got} == {"NC"}


def test_local_vanity(db_url: str) -> None:
    got = search(db_url, local_vanity="CARS", area_code="919", quantity=50)
    assert got and all("2277" in n.nxx + n.line and n.npa == "919" for n in got)
    ends = search(db_url, local_vanity="CARS", ends_in=True, state="NC", quantity=50)
    assert ends and all(n.line == "2277" and n.state == "NC" for n in ends)


def test_quantity_cap(db_url: str) -> None:
    assert len(search(db_url, state="CA", quantity=5000)) == 5000
    assert len(search(db_url, area_code="919", quantity=1)) == 1
    assert len(search(db_url, npa_nxx="919212", quantity=5000)) == 1000


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({}, 4010),
        ({"city": "Raleigh"}, 4005),
        ({"rate_center": "RALEIGH"}, 4001),
        ({"area_code": "119"}, 4000),
        ({"area_code": "91"}, 4000),
        ({"area_code": "919", "npa_nxx": "919212"}, 4002),
        ({"npa_nxx": "91921"}, 4002),
        ({"npa_nxxx": "919212"}, 4002),
        ({"state": "N1"}, 4006),
        ({"zip": "2760"}, 4007),
        ({"lata": "abc"}, 4008),
        ({"toll_free_vanity": "CARS"}, 4003),
        ({"toll_free_wildcard": "9**"}, 4004),
        ({"toll_free_wildcard": "8**", "state": "NC"}, 4010),
        ({"toll_free_wildcard": "8**", "toll_free_vanity": "NEWCARS"}, 4010),
        ({"local_vanity": "AB"}, 4010),
        ({"local_vanity": "CARS", "zip": "27601"}, 4010),
        ({"area_code": "919", "quantity": 0}, 4010),
        ({"area_code": "919", "quantity": 5001}, 4010),
        ({"area_code": "919", "order_by": "city"}, 4020),
    ],
)
def test_validation_codes(kw: dict[str, object], code: int) -> None:
    with pytest.raises(InvalidInput) as exc:
        Search(**kw).validate()  # type: ignore[arg-type]
    assert exc.value.code == code and exc.value.description


def test_unknown_area_code_is_4000(db_url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        search(db_url, area_code="433")
    assert exc.value.code == 4000 and "433" in exc.value.description


def test_from_params_is_case_tolerant() -> None:
    q = Search.from_params({"AREACODE": "919", "quantity": "7", "endsIn": "True"})
    assert (q.area_code, q.quantity, q.ends_in) == ("919", 7, True)
    with pytest.raises(InvalidInput):
        Search.from_params({"areaCode": "919", "quantity": "many"})


# --- ownership -----------------------------------------------------------------------------------


def test_owned_numbers_are_excluded(fresh_url: str) -> None:
    url = fresh_url
    first = search(url, npa_nxx="919212", quantity=10)
    own(url, [first[0].tn, first[3].tn])
    after = search(url, npa_nxx="919212", quantity=10)
    assert first[0] not in after and first[3] not in after and len(after) == 10
    assert after[:2] == [first[1], first[2]]
    # Owned but still in the inventory.
    assert run(url, lambda i, c: i.lookup(c, first[0].tn)) == first[0]
    # Sparse (vanity) candidates are probed by exact number.
    vanity = search(url, local_vanity="2277", ends_in=True, area_code="919", quantity=3)
    own(url, [vanity[0].tn])
    assert vanity[0] not in search(
        url, local_vanity="2277", ends_in=True, area_code="919", quantity=3
    )


# --- imported inventory --------------------------------------------------------------------------


@pytest.fixture
def imported_url(fresh_url: str, tmp_path: Path) -> Iterator[str]:
    url = fresh_url
    csv = tmp_path / "blocks.csv"
    csv.write_text(
        "number,city,state,rate_center,lata,zip\n"
        "+15055550100,Albuquerque,NM,ALBUQUERQU,664,87101\n"
        "5055550101,Albuquerque,nm,ALBUQUERQU,664,87101-1234\n"
        "15055550102,Santa Fe,NM,SANTA FE,664,87501\n"
        "8885550199,,,,,\n"
        "not-a-number,X,NM,X,1,\n"
    )
    engine = make_sync_engine(url)
    try:
        report = inv.import_csv(engine, csv)
        assert (report.rows, report.imported, report.rejected) == (5, 4, 1)
        again = inv.import_csv(engine, csv)  # idempotent
        assert again.imported == 4
    finally:
        engine.dispose()
    yield url


def test_import_switches_the_source(imported_url: str) -> None:
    url = imported_url
    assert search(url, area_code="919") == []  # generated inventory is off
    nm = search(url, state="NM")
    assert [n.tn for n in nm] == ["+15055550100", "+15055550101", "+15055550102"]
    assert nm[0].city == "ALBUQUERQUE" and nm[0].zip == "87101" and not nm[0].toll_free
    assert [n.tn for n in search(url, state="NM", city="Santa Fe")] == ["+15055550102"]
    assert [n.tn for n in search(url, zip="87101")] == ["+15055550100", "+15055550101"]
    assert len(search(url, lata="664", quantity=2)) == 2
    assert len(search(url, npa_nxxx="5055550")) == 3
    assert len(search(url, state="NM", rate_center="albuquerqu")) == 2
    tf = search(url, toll_free_wildcard="88*")
    assert [n.tn for n in tf] == ["+18885550199"] and tf[0].toll_free
    assert search(url, toll_free_wildcard="81*") == []  # a pattern no toll-free code matches
    assert [n.tn for n in search(url, toll_free_vanity="5550199")] == ["+18885550199"]
    assert [n.tn for n in search(url, local_vanity="0102", area_code="505")] == ["+15055550102"]
    assert len(search(url, local_vanity="5550", state="NM")) == 3
    assert search(url, local_vanity="5550", ends_in=True, state="NM") == []
    assert [n.tn for n in search(url, local_vanity="0102", ends_in=True, state="NM")] == [
        "+15055550102"
    ]
    assert run(url, lambda i, c: i.lookup(c, "+15055550100")) == nm[0]
    assert run(url, lambda i, c: i.lookup(c, "+19192121234")) is None
    own(url, ["+15055550100"])
    assert [n.tn for n in search(url, state="NM")] == ["+15055550101", "+15055550102"]

    async def clear(_i: Inventory, conn) -> None:  # type: ignore[no-untyped-def]
        await conn.execute(inventory_numbers.delete())

    run(url, clear)
    assert search(url, area_code="919", quantity=1)  # generated again


# --- the search fast paths -----------------------------------------------------------------------


def read(url: str, fn, lines: int = 1000):  # type: ignore[no-untyped-def]
    """Run `await fn(inventory, conn, db)` through store.run_read, as the HTTP route does."""
    from openband.store.inventory import run_read

    async def go():  # type: ignore[no-untyped-def]
        db = Database(url)
        i = Inventory(settings(url, lines), db)
        try:
            return await run_read(db, lambda conn: fn(i, conn, db))
        finally:
            await db.dispose()

    return asyncio.run(go())


NUMBER_QUERIES: list[dict[str, object]] = [
    {"area_code": "919", "quantity": 300},
    {"state": "CA", "quantity": 5000},
    {"npa_nxxx": "9192123", "quantity": 50},
    {"toll_free_wildcard": "87*", "quantity": 2500},
    {"toll_free_vanity": "NEWCARS"},
    {"local_vanity": "CARS", "area_code": "919", "quantity": 10},
    {"zip": "27503", "quantity": 100},
    {"state": "NC", "order_by": "fullNumber", "quantity": 200},
]


@pytest.mark.parametrize("kw", NUMBER_QUERIES)
def test_search_numbers_is_search_rows_national(fresh_url: str, kw: dict[str, object]) -> None:
    url = fresh_url
    rows = search(url, **kw)
    # Owned numbers in the first exchanges, so the number path filters like the row path.
    own(url, sorted({n.tn for n in rows[:40:3]} | {n.tn for n in rows[-20::4]}))
    rows = search(url, **kw)

    async def both(i: Inventory, conn, _db):  # type: ignore[no-untyped-def]
        q = Search(**kw)  # type: ignore[arg-type]
        return await i.search_numbers(conn, q), await i.search_rows(conn, q)

    national, again = read(url, both)
    assert national == [n.national for n in rows] and [NumberInfo(*r) for r in again] == rows


def test_imported_search_numbers_match_rows(imported_url: str) -> None:
    for kw in ({"state": "NM"}, {"toll_free_wildcard": "8**"}, {"zip": "87101"}):

        async def both(i: Inventory, conn, _db, kw=kw):  # type: ignore[no-untyped-def]
            q = Search(**kw)  # type: ignore[arg-type]
            return await i.search_numbers(conn, q), await i.search_rows(conn, q)

        national, rows = read(imported_url, both)
        assert national and national == [r.national for r in rows]
        assert [NumberInfo(*r) for r in rows] == search(imported_url, **kw)


def test_source_hint_never_goes_stale(imported_url: str, tmp_path: Path) -> None:
    """One Inventory (a server's) sees another process's import and clear at its next search."""
    from openband.store.inventory import run_read

    url = imported_url
    engine = make_sync_engine(url)
    csv = tmp_path / "again.csv"
    csv.write_text("number,city,state,rate_center,lata,zip\n5055550100,Albuquerque,NM,X,664,\n")

    async def go() -> list[list[str]]:
        db = Database(url)
        i = Inventory(settings(url), db)
        seen: list[list[str]] = []

        async def look(**kw: object) -> None:
            q = Search(**kw)  # type: ignore[arg-type]
            seen.append(await run_read(db, lambda conn: i.search_numbers(conn, q)))

        try:
            await look(state="NM")  # imported
            await look(area_code="919", quantity=2)  # imported, nothing there
            with engine.begin() as conn:  # "the CLI": inventory clear
                conn.execute(inventory_numbers.delete())
            await look(state="NM")  # generated at once: 505 exchanges in NM
            await look(npa_nxx="505555")  # generated, nothing there (555 is never offered)
            inv.import_csv(engine, csv)  # "the CLI": inventory import
            await look(state="NM")
        finally:
            await db.dispose()
        return seen

    try:
        nm_imported, nothing, nm_generated, none, nm_again = asyncio.run(go())
    finally:
        engine.dispose()
    assert nm_imported == ["5055550100", "5055550101", "5055550102"] and nothing == []
    assert len(nm_generated) == 5000 and nm_generated != nm_imported and none == []
    assert nm_again == ["5055550100"]


def test_inline_read_falls_back_when_over_budget(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement over its SQLite step budget is interrupted and the read runs again on the
    threaded connection: same answer. Within budget, no threaded connection is used."""
    from openband.store import inventory as store

    threaded: list[int] = []
    connect = Database.connect

    def spy(self: Database):  # type: ignore[no-untyped-def]
        threaded.append(1)
        return connect(self)

    monkeypatch.setattr(Database, "connect", spy)

    async def find(i: Inventory, conn, _db):  # type: ignore[no-untyped-def]
        return await i.search_numbers(conn, Search(state="CA", quantity=3000))

    # A reader may also fall back when SQLite answers busy for a moment (busy_timeout=0, e.g.
    # during a WAL checkpoint): legitimate, so within budget one of a few reads must stay inline.
    inline = False
    for _ in range(3):
        threaded.clear()
        fast = read(sqlite_url, find)
        assert len(fast) == 3000
        if not threaded:
            inline = True
            break
    assert inline
    threaded.clear()
    monkeypatch.setattr(store, "INLINE_STEP_BUDGET", 0)
    monkeypatch.setattr(store, "_STEP_GRAIN", 1)
    # Over budget, the read goes the threaded way. How many threaded connections it opens varies
    # under a loaded CI run (seen 1 and 3, not explained yet); the answer must not.
    assert read(sqlite_url, find) == fast and threaded


def test_owned_probe_over_many_exchanges(fresh_url: str) -> None:
    from openband.store import inventory as store

    url = fresh_url
    idx = inv.exchange_index()
    prefixes = [f"+1{e.npa}{e.nxx}" for e in idx.exchanges[:300]]
    mine = [
        prefixes[0] + "0001",
        prefixes[2] + "0002",
        prefixes[6] + "9999",
        prefixes[299] + "0000",
    ]
    own(url, [*mine, "+19999990000"])

    async def probe(_i: Inventory, conn, _db):  # type: ignore[no-untyped-def]
        # 5 prefixes (padded to 8), 300 (a full chunk of 250, then 50 padded to 64), exact.
        few = await store.owned_numbers(conn, prefixes[:5], [])
        many = await store.owned_numbers(conn, prefixes, [])
        exact = await store.owned_numbers(conn, [], [mine[1], prefixes[1] + "0002"])
        return few, many, exact

    assert read(url, probe) == ({mine[0], mine[1]}, set(mine), {mine[1]})
    assert run(url, lambda i, c: probe(i, c, None)) == ({mine[0], mine[1]}, set(mine), {mine[1]})


def test_concurrent_searches_while_the_index_loads(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At start, searches hold their (inline) connection while awaiting the exchange index:
    more of them than the pool's size must not block the event loop on a checkout."""
    import time

    from openband.core.inventory import index as index_module
    from openband.store.inventory import run_read

    index = inv.exchange_index()

    def slow_index() -> inv.ExchangeIndex:
        time.sleep(0.3)
        return index

    monkeypatch.setattr(index_module, "_INDEX", None)
    monkeypatch.setattr(index_module, "exchange_index", slow_index)

    async def go() -> list[list[str]]:
        db = Database(db_url)
        i = Inventory(settings(db_url), db)
        q = Search(area_code="919", quantity=3)
        try:
            return await asyncio.wait_for(
                asyncio.gather(
                    *(run_read(db, lambda conn: i.search_numbers(conn, q)) for _ in range(40))
                ),
                timeout=20,
            )
        finally:
            await db.dispose()

    found = asyncio.run(go())
    assert len(found) == 40 and all(f == found[0] and len(f) == 3 for f in found)


# --- module structure ----------------------------------------------------------------------------


def test_package_exports_resolve_and_match_their_static_imports() -> None:
    """The package loads its re-exports lazily: each one resolves, and the TYPE_CHECKING imports
    that static checkers read name the same modules."""
    prefix = "openband.core.inventory."
    static = {
        a.name: str(node.module).removeprefix(prefix)
        for node in ast.walk(ast.parse(Path(inv.__file__).read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix)
        for a in node.names
    }
    homes = inv._HOMES
    assert static == homes
    for name, home in homes.items():
        module = importlib.import_module(f"openband.core.inventory.{home}")
        assert getattr(inv, name) is getattr(module, name)


def test_store_does_not_import_core() -> None:
    from openband.store import inventory as store

    tree = ast.parse(Path(store.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("openband.core")]
