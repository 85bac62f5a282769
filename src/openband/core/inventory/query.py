"""The availableNumbers query: `Search`, its validation by Bandwidth's rules, and their errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from openband.core.inventory.geography import NPA, NPA_NXX, TOLL_FREE_NPAS
from openband.errors import InvalidInput

MAX_QUANTITY = 5000

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


# STATE and ZIP also check the operator's import (importer).
STATE = re.compile(r"^[A-Za-z]{2}$")
ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$", re.ASCII)
_NPANXXX = re.compile(r"^[2-9]\d{2}[2-9]\d{3}$", re.ASCII)
_LATA = re.compile(r"^\d{1,5}$", re.ASCII)
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


def clean(value: str | None) -> str | None:
    """Stripped text, None when absent or blank."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def upper_words(value: str) -> str:
    """A city or rate center as compared: upper case, single spaces."""
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
        qty_text = clean(p.get("quantity"))
        if qty_text is None:
            quantity = MAX_QUANTITY
        else:
            try:
                quantity = int(qty_text)
            except ValueError:
                raise search_error(4010, "quantity") from None
        if clean(p.get("protected")) and p["protected"].strip().upper() not in (
            "NONE",
            "ONLY",
            "MIXED",
        ):
            raise search_error(4022, "protected")
        parse_flag(p.get("lca"), "LCA")
        return cls(
            area_code=clean(p.get("areacode")),
            npa_nxx=clean(p.get("npanxx")),
            npa_nxxx=clean(p.get("npanxxx")),
            rate_center=clean(p.get("ratecenter")),
            state=clean(p.get("state")),
            city=clean(p.get("city")),
            zip=clean(p.get("zip")),
            lata=clean(p.get("lata")),
            toll_free_vanity=clean(p.get("tollfreevanity")),
            toll_free_wildcard=clean(p.get("tollfreewildcardpattern")),
            local_vanity=clean(p.get("localvanity")),
            ends_in=parse_flag(p.get("endsin"), "endsIn"),
            quantity=quantity,
            order_by=clean(p.get("orderby")),
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
            setattr(q, name, clean(getattr(q, name)))
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
        if q.area_code and not NPA.match(q.area_code):
            raise search_error(4000, "areaCode")
        if q.npa_nxx and not NPA_NXX.match(q.npa_nxx):
            raise search_error(4002, "npaNxx")
        if q.npa_nxxx and not _NPANXXX.match(q.npa_nxxx):
            raise search_error(4002, "npaNxxx")
        if q.state:
            if not STATE.match(q.state):
                raise search_error(4006, "state")
            q.state = q.state.upper()
        if q.rate_center:
            if not q.state or not _NAME.match(q.rate_center):
                raise search_error(4001, "rateCenter")
            q.rate_center = upper_words(q.rate_center)
        if q.city:
            if not q.state or not _NAME.match(q.city):
                raise search_error(4005, "city")
            q.city = upper_words(q.city)
        if q.zip:
            m = ZIP.match(q.zip)
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
