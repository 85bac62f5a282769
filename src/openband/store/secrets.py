"""The rows that hold sealed secrets (sealing.py): the key check every node makes at start, and
what `openband secrets rotate` reads and re-seals.

Secrets live in applications.config (which of its keys is core's knowledge:
core/provisioning/config.py) and in callback_events.auth_password and signing_secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openband.clock import now
from openband.sealing import Sealer, SealingError, sealed_with
from openband.store.schema import applications, callback_events, sealing_check

# What the check row opens to: a known value, so a wrong key cannot pass for a right one.
CHECK_TEXT = "openband sealing check v1"
_CHECK_ID = 1


class KeyMismatch(SealingError):
    """This node's keys cannot open what the database holds."""


async def _read_check(conn: AsyncConnection) -> str | None:
    row = await conn.execute(select(sealing_check.c.sealed).where(sealing_check.c.id == _CHECK_ID))
    return row.scalar_one_or_none()


async def check_keys(conn: AsyncConnection, sealer: Sealer) -> None:
    """Open the database's check value (sealing it with this node's first key when it is the
    first to start); KeyMismatch, naming the setting to fix, when this node's keys cannot."""
    sealed = await _read_check(conn)
    if sealed is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            insert(sealing_check)
            .values(id=_CHECK_ID, sealed=sealer.seal(CHECK_TEXT), updated_at=now())
            .on_conflict_do_nothing()
        )
        sealed = await _read_check(conn)
        assert sealed is not None
    try:
        opened = sealer.open(sealed)
    except SealingError:
        opened = None
    if opened != CHECK_TEXT:
        kid = sealed_with(sealed) or "unknown"
        raise KeyMismatch(
            f"this node's secret keys ({', '.join(sealer.key_ids)}) cannot open the secrets "
            f"stored in this database, which were sealed with key {kid}. Every node of a "
            "database needs the same keys: set secret_keys (OPENBAND_SECRET_KEYS) or "
            "secret_key_file to the key the other nodes use (by default the first node's "
            "<data_dir>/openband.key); when rotating, keep the old key listed until "
            "`openband secrets rotate` has run"
        )


async def reseal_check(conn: AsyncConnection, sealer: Sealer) -> bool:
    """Re-seal the check value with the first key (the last step of a rotation); True if it
    changed."""
    sealed = await _read_check(conn)
    if sealed is None or sealer.is_current(sealed):
        return False
    await conn.execute(
        update(sealing_check)
        .where(sealing_check.c.id == _CHECK_ID)
        .values(sealed=sealer.reseal(sealed), updated_at=now())
    )
    return True


# --- applications ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredConfig:
    id: str
    account_id: str
    service_type: str
    config: dict[str, Any]


async def application_configs(conn: AsyncConnection, after: str, limit: int) -> list[StoredConfig]:
    """Applications with ids above `after`, in id order, locked for the transaction (PostgreSQL;
    SQLite's writer lock already excludes other writers)."""
    rows = await conn.execute(
        select(
            applications.c.id,
            applications.c.account_id,
            applications.c.service_type,
            applications.c.config,
        )
        .where(applications.c.id > after)
        .order_by(applications.c.id)
        .limit(limit)
        .with_for_update()
    )
    return [StoredConfig(r.id, r.account_id, r.service_type, dict(r.config or {})) for r in rows]


async def set_application_config(conn: AsyncConnection, app_id: str, config: dict) -> None:
    """The stored config as it is (no updated_at: re-sealing changes nothing a user set)."""
    await conn.execute(
        update(applications).where(applications.c.id == app_id).values(config=config)
    )


async def application_account(conn: AsyncConnection, app_id: str) -> str | None:
    """The account an application belongs to (the operator's CLI names one by id alone)."""
    row = await conn.execute(select(applications.c.account_id).where(applications.c.id == app_id))
    return row.scalar_one_or_none()


# --- callback events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventSecrets:
    id: str
    auth_password: str | None
    signing_secret: str | None


_e = callback_events


async def event_secrets(conn: AsyncConnection, after: str, limit: int) -> list[EventSecrets]:
    """Events that hold a secret with ids above `after`, in id order: every status, since a
    finished event can be replayed."""
    rows = await conn.execute(
        select(_e.c.id, _e.c.auth_password, _e.c.signing_secret)
        .where(
            _e.c.id > after, or_(_e.c.auth_password.isnot(None), _e.c.signing_secret.isnot(None))
        )
        .order_by(_e.c.id)
        .limit(limit)
        .with_for_update()
    )
    return [EventSecrets(r.id, r.auth_password, r.signing_secret) for r in rows]


_SET_SECRETS = (
    update(_e)
    .where(_e.c.id == bindparam("eid"))
    .values(auth_password=bindparam("pw"), signing_secret=bindparam("secret"))
)


async def set_event_secrets(conn: AsyncConnection, events: Sequence[EventSecrets]) -> None:
    if events:
        await conn.execute(
            _SET_SECRETS,
            [{"eid": e.id, "pw": e.auth_password, "secret": e.signing_secret} for e in events],
        )
