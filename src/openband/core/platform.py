"""The platform as the API families see it: every core service, built once by wiring.

An API module reaches the services through this object only (api/context.ctx); it never opens
a transaction or reads a table itself, so v1, v2 and the Dashboard call the same rule once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

from openband import metrics
from openband.store.db import Transaction

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.core.accounts import Accounts
    from openband.core.inventory import Inventory
    from openband.core.messaging import MediaLibrary, Messaging
    from openband.core.orders import Orders
    from openband.core.simulator import SimulatorControl
    from openband.core.voice import Voice
    from openband.sealing import Sealer
    from openband.store.db import Database

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Platform:
    settings: Settings
    db: Database
    accounts: Accounts
    orders: Orders
    messaging: Messaging
    simulator: SimulatorControl
    inventory: Inventory
    # Seals the secrets a write stores (applications' callback passwords and signing secret).
    sealer: Sealer
    voice: Voice

    async def read(
        self,
        fn: Callable[Concatenate[Transaction, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a core operation that only reads (a function whose first argument is the
        transaction) on a connection of its own: the family names the operation, core owns the
        connection."""
        async with self.db.connect() as tx:
            return await fn(tx, *args, **kwargs)

    async def write(
        self,
        fn: Callable[Concatenate[Transaction, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """`read`, in a transaction that commits when `fn` returns (and rolls back if it
        raises): all of the operation's changes or none."""
        async with self.db.begin() as tx:
            return await fn(tx, *args, **kwargs)

    @property
    def media(self) -> MediaLibrary:
        return self.messaging.media

    async def ready(self) -> bool:
        """The database answers (GET /ready)."""
        return await self.db.ping()

    @property
    def database_kind(self) -> str:
        return self.db.dialect

    async def metrics(self) -> bytes:
        """Prometheus text: this node's counters and the database's backlog gauges."""
        return await metrics.scrape(self.db)
