"""GET /accounts/{id}/availableNumbers over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.support.harness import Account, Harness


def get(account: Account, **params: object):  # type: ignore[no-untyped-def]
    return account.dash("GET", "/availableNumbers", params=params)


def numbers(account: Account, **params: object) -> list[str]:
    r = get(account, **params)
    assert r.status_code == 200, r.text
    doc = etree.fromstring(r.content)
    assert doc.tag == "SearchResult"
    found = [t.text or "" for t in doc.findall("TelephoneNumberList/TelephoneNumber")]
    assert doc.findtext("ResultCount") == str(len(found))
    return found


def error(account: Account, **params: object) -> tuple[int, str]:
    r = get(account, **params)
    assert r.status_code == 400, r.text
    doc = etree.fromstring(r.content)
    assert doc.tag == "SearchResult" and doc.find("TelephoneNumberList") is None
    assert doc.findtext("Error/Description")
    return int(doc.findtext("Error/Code") or 0), doc.findtext("Error/Description") or ""


def test_area_code_and_quantity(account: Account) -> None:
    got = numbers(account, areaCode="919", quantity=2)
    assert len(got) == 2 and all(len(n) == 10 and n.startswith("919") for n in got)
    assert numbers(account, areaCode="919", quantity=2) == got  # deterministic
    assert len(numbers(account, areaCode=919)) == 5000  # default quantity


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"npaNxx": "919212"}, lambda n: n.startswith("919212")),
        ({"npaNxxx": "9192123"}, lambda n: n.startswith("9192123")),
        ({"state": "NC"}, lambda n: len(n) == 10),
        ({"city": "Raleigh", "state": "NC"}, lambda n: len(n) == 10),
        ({"rateCenter": "RALEIGH", "state": "NC"}, lambda n: len(n) == 10),
        ({"zip": "27601"}, lambda n: len(n) == 10),
        ({"tollFreeWildCardPattern": "8**"}, lambda n: n[:3] in ("800", "833", "844", "855")),
        ({"tollFreeWildCardPattern": "87*"}, lambda n: n.startswith("877")),
        ({"localVanity": "CARS", "areaCode": "919"}, lambda n: "2277" in n[3:]),
        ({"localVanity": "CARS", "endsIn": "True", "state": "NC"}, lambda n: n.endswith("2277")),
        ({"areaCode": "919", "orderBy": "fullNumber"}, lambda n: n.startswith("919")),
    ],
)
def test_each_search_parameter(account: Account, params: dict, check) -> None:  # type: ignore[no-untyped-def]
    got = numbers(account, quantity=25, **params)
    assert got and all(check(n) for n in got), got


def test_lata_search(account: Account) -> None:
    r = get(account, city="Raleigh", state="NC", quantity=1, enableTNDetail="true")
    lata = etree.fromstring(r.content).findtext(
        "TelephoneNumberDetailList/TelephoneNumberDetail/LATA"
    )
    assert lata
    assert numbers(account, lata=lata, quantity=10)


def test_toll_free_vanity(account: Account) -> None:
    got = numbers(account, tollFreeVanity="NEWCARS")
    assert all(n.endswith("6392277") for n in got)


def test_enable_tn_detail(account: Account) -> None:
    for flag in ("true", "True"):
        r = get(account, areaCode="919", quantity=3, enableTNDetail=flag)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
        doc = etree.fromstring(r.content)
        assert doc.findtext("ResultCount") == "3" and doc.find("TelephoneNumberList") is None
        details = doc.findall("TelephoneNumberDetailList/TelephoneNumberDetail")
        assert len(details) == 3
        for d in details:
            assert (d.findtext("FullNumber") or "").startswith("919")
            assert d.findtext("State") == "NC"
            assert d.findtext("City") and d.findtext("RateCenter") and d.findtext("LATA")
            assert d.findtext("Tier") == "0" and d.findtext("VendorId")
    plain = etree.fromstring(get(account, areaCode="919", quantity=3).content)
    numbers_ = [t.text for t in plain.findall("TelephoneNumberList/TelephoneNumber")]
    assert numbers_ == [d.findtext("FullNumber") for d in details]


def test_empty_result(account: Account) -> None:
    r = get(account, npaNxx="919555")
    assert r.status_code == 200
    doc = etree.fromstring(r.content)
    assert doc.findtext("ResultCount") == "0" and doc.find("Error") is None


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, 4010),
        ({"quantity": "5"}, 4010),
        ({"city": "Raleigh"}, 4005),
        ({"rateCenter": "RALEIGH"}, 4001),
        ({"areaCode": "91"}, 4000),
        ({"areaCode": "433"}, 4000),
        ({"areaCode": "919", "npaNxx": "919212"}, 4002),
        ({"npaNxx": "9192"}, 4002),
        ({"state": "North Carolina"}, 4006),
        ({"zip": "ABCDE"}, 4007),
        ({"lata": "12x"}, 4008),
        ({"tollFreeVanity": "CAR"}, 4003),
        ({"tollFreeWildCardPattern": "7**"}, 4004),
        ({"tollFreeWildCardPattern": "8**", "areaCode": "919"}, 4010),
        ({"areaCode": "919", "quantity": "0"}, 4010),
        ({"areaCode": "919", "quantity": "5001"}, 4010),
        ({"areaCode": "919", "quantity": "lots"}, 4010),
        ({"areaCode": "919", "enableTNDetail": "maybe"}, 4010),
        ({"areaCode": "919", "orderBy": "price"}, 4020),
        ({"areaCode": "919", "protected": "SOME"}, 4022),
    ],
)
def test_search_errors(account: Account, params: dict, code: int) -> None:  # type: ignore[type-arg]
    assert error(account, **params)[0] == code


def test_missing_criteria_description(account: Account) -> None:
    code, desc = error(account)
    assert code == 4010 and "required search parameters are null or empty" in desc


def test_every_prefix(account: Account) -> None:
    for prefix in ("/api", "/api/v1", "/v1.0"):
        r = account.client.get(
            f"{prefix}/accounts/{account.account_id}/availableNumbers",
            params={"areaCode": "919", "quantity": 1},
            auth=account.auth,
        )
        assert r.status_code == 200 and b"<TelephoneNumber>919" in r.content


def test_unauthenticated_and_other_account(account: Account, other_account: Account) -> None:
    r = account.dash(
        "GET", "/availableNumbers", params={"areaCode": "919"}, auth=(account.username, "wrong")
    )
    assert r.status_code == 401
    assert etree.fromstring(r.content).tag == "SearchResult"
    r = account.client.get(f"/api/accounts/{account.account_id}/availableNumbers?areaCode=919")
    assert r.status_code == 401
    r = account.client.get(
        f"/api/accounts/{other_account.account_id}/availableNumbers",
        params={"areaCode": "919"},
        auth=account.auth,
    )
    assert r.status_code == 403
    assert etree.fromstring(r.content).tag == "SearchResult"


def test_import_and_clear_are_seen_at_once(
    account: Account, harness: Harness, tmp_path: Path
) -> None:
    """`openband inventory import` / `clear` run in another process; the server's very next
    search uses the new source (no cached "is an inventory imported")."""
    from openband.core.inventory import import_csv
    from openband.store.db import make_sync_engine
    from openband.store.schema import inventory_numbers

    generated = numbers(account, areaCode="505", quantity=3)
    csv = tmp_path / "blocks.csv"
    csv.write_text(
        "number,city,state,rate_center,lata,zip\n"
        "5055550100,Albuquerque,NM,ALBUQUERQU,664,87101\n"
        "5055550101,Albuquerque,NM,ALBUQUERQU,664,87101\n"
    )
    engine = make_sync_engine(harness.settings.database_url)
    try:
        import_csv(engine, csv)
        assert numbers(account, areaCode="505", quantity=3) == ["5055550100", "5055550101"]
        assert numbers(account, areaCode="919") == []
        r = get(account, state="NM", enableTNDetail="true")
        details = etree.fromstring(r.content).findall(
            "TelephoneNumberDetailList/TelephoneNumberDetail"
        )
        assert [d.findtext("FullNumber") for d in details] == ["5055550100", "5055550101"]
        assert details[0].findtext("City") == "ALBUQUERQUE" and details[0].findtext("LATA") == "664"
        with engine.begin() as conn:
            conn.execute(inventory_numbers.delete())
        assert numbers(account, areaCode="505", quantity=3) == generated
    finally:
        with engine.begin() as conn:
            conn.execute(inventory_numbers.delete())
        engine.dispose()


def test_large_answer_matches_detail(account: Account) -> None:
    """The 5000-number answer (numbers only) and the detailed one list the same numbers."""
    plain = numbers(account, state="CA", quantity=5000)
    r = get(account, state="CA", quantity=5000, enableTNDetail="true")
    doc = etree.fromstring(r.content)
    full = [d.findtext("FullNumber") for d in doc.findall("TelephoneNumberDetailList/*")]
    assert len(plain) == 5000 and full == plain and doc.findtext("ResultCount") == "5000"
