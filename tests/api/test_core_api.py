"""Health, readiness, authentication and account isolation on the Dashboard API."""

from __future__ import annotations

from lxml import etree

from tests.support.harness import Account, Harness


def test_health_and_ready(harness: Harness) -> None:
    assert harness.client.get("/health").json()["status"] == "ok"
    r = harness.client.get("/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def test_get_account_on_every_prefix(account: Account) -> None:
    for prefix in ("/api", "/api/v1", "/v1.0"):
        r = account.client.get(f"{prefix}/accounts/{account.account_id}", auth=account.auth)
        assert r.status_code == 200, r.text
        doc = etree.fromstring(r.content)
        assert doc.tag == "AccountResponse"
        assert doc.findtext("Account/AccountId") == account.account_id


def test_wrong_or_missing_credentials_401(account: Account) -> None:
    r = account.dash("GET", "", auth=(account.username, "nope"))
    assert r.status_code == 401
    assert etree.fromstring(r.content).find("ResponseStatus/ErrorCode") is not None
    r = account.client.get(f"/api/accounts/{account.account_id}")
    assert r.status_code == 401
    r = account.client.get(
        f"/api/accounts/{account.account_id}", headers={"Authorization": "Basic !!!"}
    )
    assert r.status_code == 401


def test_other_accounts_path_is_forbidden(account: Account, other_account: Account) -> None:
    r = account.client.get(f"/api/accounts/{other_account.account_id}", auth=account.auth)
    assert r.status_code == 403


def test_v1_credentials_do_not_open_the_dashboard(account: Account) -> None:
    r = account.dash("GET", "", auth=(account.api_token, account.api_secret))
    assert r.status_code == 401
