"""The platform as the API families see it: every core service, built once by wiring.

An API module reaches the services through this object only (api/context.ctx); it never opens
a transaction or reads a table itself, so v1, v2 and the Dashboard call the same rule once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openband import metrics

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.core.accounts import Accounts
    from openband.core.inventory import Inventory
    from openband.core.jobs import Workers
    from openband.core.messaging import MediaLibrary, Messaging
    from openband.core.simulator import SimulatorControl
    from openband.store.db import Database


@dataclass
class Platform:
    settings: Settings
    db: Database
    accounts: Accounts
    workers: Workers
    messaging: Messaging
    simulator: SimulatorControl
    inventory: Inventory
    # Started work that must finish before stop (e.g. the exchange index's warm-up).
    background: list[object] = field(default_factory=list)

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
