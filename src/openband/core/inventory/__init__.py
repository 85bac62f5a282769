"""The number inventory: what can be searched (GET availableNumbers) and ordered.

Two sources, never mixed:

* Generated (default): a deterministic NANP inventory computed, not stored. Every real area code +
  exchange (NPA-NXX) becomes an exchange with its real city and state and a derived rate center,
  synthetic LATA and zip (geography), listed in the exchange index (index); a keyed share of
  each exchange's 10,000 lines is on offer (offer).
* Imported: when the `inventory_numbers` table has any row it IS the inventory (importer:
  `openband inventory import`). Which source applies is read from the database in each search's
  own transaction, never cached (search).

A number is available when it is in the inventory and has no phone_numbers row. Searches are
deterministic: same query and same ownership give the same answer.

Modules: query (the availableNumbers query, its validation and 40xx errors), geography (NANP
codes and derived attributes), index (the exchange index), offer (which lines are on offer),
search (Inventory, and the NumberInfo it answers with), importer (the operator's CSV import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# The names below load their module on first use. The exchange index is built in a child
# process that imports `index`, and with it this package: importing `search` and `importer`
# here would load SQLAlchemy there too (~0.4 s and ~30 MB more per child).
if TYPE_CHECKING:  # the same names, as static checkers see them
    from openband.core.inventory.geography import (  # noqa: F401
        CA_PROVINCES,
        LATA_BLOCK,
        REGIONS,
        TOLL_FREE_NPAS,
        TOLL_FREE_NXX,
        US_STATES,
        ZipTable,
        city_key,
        rate_center_for,
        synthetic_lata,
    )
    from openband.core.inventory.importer import (  # noqa: F401
        IMPORT_COLUMNS,
        ImportReport,
        import_csv,
        parse_import_row,
    )
    from openband.core.inventory.index import (  # noqa: F401
        Exchange,
        ExchangeIndex,
        build_index,
        exchange_index,
    )
    from openband.core.inventory.offer import LINES, Offer  # noqa: F401
    from openband.core.inventory.query import (  # noqa: F401
        MAX_QUANTITY,
        MISSING_CRITERIA,
        ORDER_BY,
        SEARCH_ERRORS,
        Search,
        parse_flag,
        search_error,
        vanity_digits,
    )
    from openband.core.inventory.search import Group, Inventory, NumberInfo, NumberRow  # noqa: F401

_HOMES: dict[str, str] = {
    **dict.fromkeys(
        ("CA_PROVINCES", "LATA_BLOCK", "REGIONS", "TOLL_FREE_NPAS", "TOLL_FREE_NXX", "US_STATES",
         "ZipTable", "city_key", "rate_center_for", "synthetic_lata"),
        "geography",
    ),
    **dict.fromkeys(
        ("IMPORT_COLUMNS", "ImportReport", "import_csv", "parse_import_row"), "importer"
    ),
    **dict.fromkeys(("Exchange", "ExchangeIndex", "build_index", "exchange_index"), "index"),
    **dict.fromkeys(("LINES", "Offer"), "offer"),
    **dict.fromkeys(
        ("MAX_QUANTITY", "MISSING_CRITERIA", "ORDER_BY", "SEARCH_ERRORS", "Search", "parse_flag",
         "search_error", "vanity_digits"),
        "query",
    ),
    **dict.fromkeys(("Group", "Inventory", "NumberInfo", "NumberRow"), "search"),
}  # fmt: skip


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # from now on a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
