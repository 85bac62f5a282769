"""What every request handler can reach: settings, database, credential cache, workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from openband.config import Settings
from openband.core.accounts import CredentialCache
from openband.store.db import Database

if TYPE_CHECKING:
    from openband.core.inventory import Inventory
    from openband.core.jobs import Workers


@dataclass
class AppContext:
    settings: Settings
    db: Database
    credentials: CredentialCache
    inventory: Inventory | None = None
    workers: Workers | None = None
    extras: dict[str, object] = field(default_factory=dict)


def ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def base_url(request: Request) -> str:
    """The public base URL for Location headers: configured, or the one the client used."""
    configured = ctx(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")
