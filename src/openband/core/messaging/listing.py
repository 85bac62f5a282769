"""The message list/search as core takes it: a typed query over recipients' copies.

Each API family parses its own query parameters into a ListQuery (Messaging v2:
api/messaging_v2/listing.py) and renders the ListedRecipient rows it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass

from openband.store.messages import SORT_KEYS, ListedRecipient, MessageFilter

# Results reachable by paging: offset + limit never exceed it (Bandwidth's window).
MAX_LIST_WINDOW = 10_000


@dataclass(frozen=True)
class ListQuery:
    filter: MessageFilter
    sort: str  # one of SORT_KEYS
    descending: bool
    offset: int
    limit: int
    count_cap: int | None  # count at most this many (limitTotalCount), None: count all

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.sort!r}")


__all__ = ["MAX_LIST_WINDOW", "SORT_KEYS", "ListQuery", "ListedRecipient", "MessageFilter"]
