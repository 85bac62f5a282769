"""What the simulated network asks the platform about numbers: a handset's call script for an
account, and whether a number is the platform's (then a call to it is offered to its
application rather than to a handset). Rows read here, typed values handed to the network."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openband.network.sim.call_scripts import CallScript
from openband.store import calls as repo
from openband.store import simulator as sim_repo

if TYPE_CHECKING:
    from openband.store.db import Database


class Directory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def call_script(self, account_id: str, tn: str) -> CallScript | None:
        """The handset's call script for `account_id`'s calls (the "call" part of
        PUT /sim/v1/handsets/{number}): the account's script, else the operator's default."""
        async with self.db.connect() as conn:
            raw = await sim_repo.script(conn, account_id, tn)
            if raw is None:  # the same rule as for messages: the account's row, else the default
                raw = await sim_repo.script(conn, sim_repo.PLATFORM, tn)
        if raw is None or not raw.get("call"):
            return None
        return CallScript.from_json(raw["call"])

    async def platform_number(self, tn: str) -> bool:
        async with self.db.connect() as conn:
            return await repo.route(conn, tn) is not None
